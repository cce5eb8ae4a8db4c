"""Running ``pydcap`` as the tests of the command line do: in a new process (the installed script, else this
Python), with the arguments that verify a real bundle at its own time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.testdata import Bundle

_SCRIPT = Path(sys.executable).with_name("pydcap")
PYDCAP = (
    [str(_SCRIPT)]
    if _SCRIPT.is_file()
    else [sys.executable, "-c", "import sys; from pydcap.cli import main; sys.exit(main())"]
)


SGX, TDX = "phala-sgx-v3", "phala-tdx-v4"


def verify_args(b: Bundle, *extra: str) -> list[str]:
    return [
        "verify",
        str(b.path / "quote.bin"),
        "--at",
        b.expected["verify_at"]["iso"],
        "--accept",
        b.expected["tcb_status"],
        *extra,
    ]


def run_pydcap(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PYDCAP, *args], check=False, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=60
    )
