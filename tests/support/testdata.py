"""The shared test data (``../shared/testdata``, or ``$PYDCAP_TESTDATA``): real quotes with Intel's verdicts, negative
bundles and Intel's shipped files. Absent data skips a test, or fails it when ``CI`` is set."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = Path(os.environ.get("PYDCAP_TESTDATA", ROOT.parent / "shared" / "testdata"))


@dataclass(frozen=True)
class Bundle:
    path: Path
    expected: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def quote(self) -> bytes:
        return (self.path / "quote.bin").read_bytes()

    @property
    def at(self) -> int:
        return int(self.expected["verify_at"]["unix"])


def _bundles(kind: str) -> list[Bundle]:
    base = TESTDATA / kind
    if not base.is_dir():
        return []
    return [
        Bundle(p, json.loads((p / "expected.json").read_text()))
        for p in sorted(base.iterdir())
        if (p / "expected.json").is_file()
    ]


def require_testdata() -> None:
    if not (TESTDATA / "real").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but the shared test data is missing at {TESTDATA}")
        pytest.skip(f"shared test data not found at {TESTDATA}")


def intel_file(name: str) -> Path:
    """One of Intel's shipped configuration files, unchanged, from ``../shared/testdata/intel-files/``."""
    path = TESTDATA / "intel-files" / name
    if not path.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but Intel's file {path} is missing from the shared test data")
        pytest.skip(f"Intel's file {name} not found at {path.parent}")
    return path


REAL = _bundles("real")
NEGATIVE = _bundles("negative")


def real_bundle(name: str) -> Bundle:
    """The real bundle ``name`` (the test is skipped when the shared test data lacks it)."""
    require_testdata()
    for b in REAL:
        if b.name == name:
            return b
    pytest.skip(f"bundle {name} not in the test data")


def bundle_params(bundles: list[Bundle]) -> list[Any]:
    if not bundles:
        return [pytest.param(None, id="no-testdata")]
    return [pytest.param(b, id=b.name) for b in bundles]
