"""Fixtures for the provider tests: the C quote provider built with gcc, and the files it serves, written
from the real bundles of the shared test data; a loopback PCCS and QCNL providers with a settable clock and
trust root; a QCNL cache directory of each test's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.provider.pccs_server import PccsData, running_pccs
from tests.support.provider import (
    QE_ID,
    SGX_BUNDLE,
    TDX_BUNDLE,
    QcnlPccs,
    Served,
    build_plugins,
    write_served,
)
from tests.support.testdata import real_bundle


@pytest.fixture(autouse=True)
def qcnl_cache_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$AZDCAP_CACHE`` for every provider test: a fresh ``.dcap-qcnl`` of its own, so no test reads or writes
    the user's QCNL cache (Intel's search takes the first existing directory, so this one must exist)."""
    base = tmp_path / "qcnl-cache-base"
    (base / ".dcap-qcnl").mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("AZDCAP_CACHE", str(base))
    return base


@pytest.fixture(scope="session")
def plugin_builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The test plugin compiled in each variant."""
    return build_plugins(tmp_path_factory.mktemp("plugins"))


@pytest.fixture
def served(tmp_path: Path) -> Served:
    return write_served(tmp_path / "served")


@pytest.fixture
def qcnl_pccs() -> Iterator[QcnlPccs]:
    data = PccsData(real_bundle(SGX_BUNDLE), real_bundle(TDX_BUNDLE), QE_ID.hex())
    with running_pccs(data) as url:
        yield QcnlPccs(url, data)
