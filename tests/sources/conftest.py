"""Fixtures of the source tests: a replay of Intel's PCCS on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import require_testdata
from tests.sources.pccs_replay import ReplayPccs


@pytest.fixture(scope="session")
def _replay() -> Iterator[ReplayPccs]:
    require_testdata()
    with ReplayPccs() as server:
        yield server


@pytest.fixture
def pccs(_replay: ReplayPccs) -> ReplayPccs:
    """The replay server, with no latency, no queued answers and zeroed counts."""
    require_testdata()
    _replay.reset()
    return _replay
