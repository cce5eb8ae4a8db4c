"""Where the store tests keep their data: a SQLite file in a temporary directory, or a schema of their own
in the PostgreSQL at 127.0.0.1:5432 (skipped with a reason when it is unreachable, unless CI is set)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

PG_URL = os.environ.get("PYDCAP_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
_PG_CONNINFO = PG_URL.replace("postgresql+psycopg://", "postgresql://")


def _unreachable_reason() -> str | None:
    try:
        with psycopg.connect(_PG_CONNINFO, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at {PG_URL} is unreachable: {str(exc).strip().splitlines()[0]}"


@contextmanager
def schema_name() -> Iterator[str]:
    """A name for a schema of the test's own (not created here), dropped afterwards if it was created."""
    reason = _unreachable_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}")
        pytest.skip(reason)
    name = f"pydcap_test_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        with psycopg.connect(_PG_CONNINFO, autocommit=True) as conn:
            # A connection left inside a transaction would make DROP wait forever: fail the test instead.
            conn.execute("SET lock_timeout = '30s'")
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema; yields a database URL whose connections use it. Dropped afterwards."""
    with schema_name() as name:
        with psycopg.connect(_PG_CONNINFO, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        yield f"{PG_URL}?options=-csearch_path%3D{name}"


@contextmanager
def store_target(kind: str, directory: Path) -> Iterator[str]:
    """A store location usable by this process and by subprocesses: a file path or a database URL."""
    if kind == "sqlite":
        yield str(directory / "collateral.sqlite3")
    else:
        with postgres_schema() as url:
            yield url
