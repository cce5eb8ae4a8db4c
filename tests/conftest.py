"""Shared fixtures (only pytest imports this module: helpers live in ``tests/support``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.support.testdata import (  # re-exported for tests written before tests/support existed
    NEGATIVE,
    REAL,
    ROOT,
    TESTDATA,
    Bundle,
    bundle_params,
    intel_file,
    real_bundle,
    require_testdata,
)
from tests.support.threads import run_together  # re-exported, as above

if TYPE_CHECKING:
    from tests.sources.pccs_replay import ReplayPccs

__all__ = [
    "NEGATIVE",
    "REAL",
    "ROOT",
    "TESTDATA",
    "Bundle",
    "bundle_params",
    "intel_file",
    "real_bundle",
    "require_testdata",
    "run_together",
]


@pytest.fixture
def real_bundles() -> list[Bundle]:
    require_testdata()
    return REAL


@pytest.fixture(scope="session")
def _replay_pccs() -> Iterator[ReplayPccs]:
    require_testdata()
    from tests.sources.pccs_replay import ReplayPccs

    with ReplayPccs() as server:
        yield server


@pytest.fixture
def replay_pccs(_replay_pccs: ReplayPccs) -> ReplayPccs:
    """A replay of Intel's real PCCS on loopback, with no latency, no queued answers and zeroed counts.
    (pydcap's own PCCS is ``pydcap_pccs`` in tests/pccs; the QCNL tests' loopback PCCS is ``qcnl_pccs``.)"""
    _replay_pccs.reset()
    return _replay_pccs
