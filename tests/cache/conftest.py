"""Fixtures of the cache tests: each store test runs on a SQLite file and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pydcap.cache import CollateralStore
from tests.cache.databases import store_target


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with store_target(request.param, tmp_path) as location:
        yield location


@pytest.fixture
def store(target: str) -> Iterator[CollateralStore]:
    with CollateralStore.open(target) as s:
        yield s
