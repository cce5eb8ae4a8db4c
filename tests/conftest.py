"""Shared fixtures: the real test vectors of ../shared/testdata (required when CI is set)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.sources.pccs_replay import ReplayPccs

ROOT = Path(__file__).resolve().parent.parent
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


@pytest.fixture
def real_bundles() -> list[Bundle]:
    require_testdata()
    return REAL


@pytest.fixture(scope="session")
def _replay_pccs() -> Iterator[ReplayPccs]:
    require_testdata()
    from tests.sources.pccs_replay import ReplayPccs  # it reads TESTDATA from this module

    with ReplayPccs() as server:
        yield server


@pytest.fixture
def pccs(_replay_pccs: ReplayPccs) -> ReplayPccs:
    """A replay of Intel's real PCCS on loopback, with no latency, no queued answers and zeroed counts.
    (Test folders with a PCCS of their own define their own ``pccs``.)"""
    _replay_pccs.reset()
    return _replay_pccs


def run_together(task: Callable[[int], object], count: int, timeout: float = 60.0) -> None:
    """Run ``task(0)`` ... ``task(count - 1)`` in as many threads, released at once; re-raise the first error.
    A thread that fails or hangs fails the test (it never leaves the others waiting forever)."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout)
            task(i)
        except BaseException as exc:  # handed to the test below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    if any(t.is_alive() for t in threads):
        raise AssertionError(f"a thread did not finish within {timeout} s")
    if errors:
        first = next((e for e in errors if not isinstance(e, threading.BrokenBarrierError)), errors[0])
        raise first
