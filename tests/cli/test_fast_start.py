"""Fast start: the commands a user runs most load neither the HTTP clients, the database layer nor the servers
(httpx, SQLAlchemy, Starlette, uvicorn); ``make bench`` measures how long they take."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pydcap.sim import SimulatedIntel

HEAVY = ("sqlalchemy", "httpx", "starlette", "uvicorn")
_PROBE = """
import json, sys
from pydcap.cli import main
try:
    status = main(sys.argv[1:])
except SystemExit as exc:
    status = exc.code
loaded = sorted({name.split(".")[0] for name in sys.modules} & set(json.loads(sys.stdin.read())))
print(json.dumps({"status": status, "loaded": loaded}), file=sys.stderr)
"""


def _loaded(*argv: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv],
        input=json.dumps(HEAVY),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    result: dict[str, object] = json.loads(proc.stderr.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("fast")
    intel = SimulatedIntel(0)
    platform = intel.sgx_platform()
    (directory / "quote.bin").write_bytes(platform.quote(b""))
    intel.collateral_for(platform).write_directory(directory / "coll")
    (directory / "root.pem").write_bytes(intel.root_pem)
    return directory / "quote.bin", directory / "coll"


def test_help_loads_no_heavy_module() -> None:
    assert _loaded("--help") == {"status": 0, "loaded": []}


def test_verify_with_collateral_loads_no_heavy_module(pair: tuple[Path, Path]) -> None:
    quote, collateral = pair
    root = collateral.parent / "root.pem"
    assert _loaded("verify", str(quote), "--collateral", str(collateral), "--root-ca", str(root)) == {
        "status": 0,
        "loaded": [],
    }


def test_quote_show_loads_no_heavy_module(pair: tuple[Path, Path]) -> None:
    assert _loaded("quote", "show", str(pair[0])) == {"status": 0, "loaded": []}
