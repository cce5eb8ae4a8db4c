"""A database failure becomes a ``StoreError`` whose fields say what happened (the database's words, and whether
another connection held the lock), read from the driver's error where it was raised, never from message text."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from pydcap.cache.store import database_failed


def _driver_error(path: Path, statement: str) -> sqlite3.OperationalError:
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE IF NOT EXISTS t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        other = sqlite3.connect(path, timeout=0)
        with pytest.raises(sqlite3.OperationalError) as caught:
            other.execute(statement)
        other.close()
        return caught.value
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_database_locked_by_another_connection_is_busy(tmp_path: Path) -> None:
    orig = _driver_error(tmp_path / "db.sqlite3", "INSERT INTO t VALUES (1)")
    error = database_failed("the cache store x failed", OperationalError("INSERT", {}, orig))
    assert error.busy and error.reason == str(orig) and str(error) == f"the cache store x failed: {orig}"


def test_any_other_failure_is_not_busy_whatever_its_words(tmp_path: Path) -> None:
    with pytest.raises(sqlite3.OperationalError) as caught:
        sqlite3.connect(tmp_path / "db.sqlite3").execute("SELECT * FROM locked")  # no such table, named "locked"
    error = database_failed("cannot create the tables", OperationalError("SELECT", {}, caught.value))
    assert not error.busy and error.reason == "no such table: locked"
