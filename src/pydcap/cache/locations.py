"""Where a store lives: a SQLite file (WAL mode, private permissions) or a PostgreSQL URL, made an engine.

SQLite connections run in driver autocommit so that pydcap issues its own ``BEGIN`` (``IMMEDIATE`` for
writes, which never deadlock on lock upgrades); PostgreSQL connections can be pinned to one schema.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from pydcap.cache.errors import StoreError

STORE_ENV = "PYDCAP_CACHE"
LIMIT_ENV = "PYDCAP_CACHE_MAX_BYTES"
DEFAULT_LIMIT = 64 * 1024 * 1024
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def default_store_path(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/pydcap/collateral.sqlite3``, else ``~/.cache/pydcap/collateral.sqlite3`` (reading
    ``env`` instead of the process environment when given)."""
    base = (os.environ if env is None else env).get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pydcap" / "collateral.sqlite3"


def default_store_limit(env: Mapping[str, str] | None = None) -> int | None:
    """How many bytes of documents a client's store keeps (the oldest written go first): ``$PYDCAP_CACHE_MAX_BYTES``
    (0: no bound), else 64 MiB. A PCCS's store has no bound: it is the cache others are served from."""
    text = (os.environ if env is None else env).get(LIMIT_ENV, "").strip()
    if not text:
        return DEFAULT_LIMIT
    if not text.isdigit():
        raise StoreError(f"{LIMIT_ENV}={text!r} is not a number of bytes (0 for no bound)")
    return int(text) or None


@dataclass(frozen=True)
class StoreEngine:
    """An engine and where it points. ``sqlite_path``: the file, for a SQLite store; ``read_only``: why the
    store is opened for reading only (None: it is writable)."""

    engine: Engine
    location: str
    pg_schema: str | None = None
    sqlite_path: Path | None = None
    read_only: str | None = None


def engine_for(target: str | Path | None, *, schema: str | None = None) -> StoreEngine:
    """The engine for a file path, a database URL, or None (``$PYDCAP_CACHE``, else the default path)."""
    if target is None:
        target = os.environ.get(STORE_ENV) or default_store_path()
    text = str(target)
    if isinstance(target, str) and "://" in text:
        return _from_url(text, schema=schema)
    return _sqlite(Path(text).expanduser())


def _sqlite(path: Path) -> StoreEngine:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as exc:
        if path.is_file():
            return read_only_sqlite(path, f"cannot write it: {exc.strerror}")
        raise StoreError(f"cannot create the cache file {path}: {exc.strerror}") from exc
    engine = create_engine(f"sqlite+pysqlite:///{path}", connect_args={"timeout": 30, "check_same_thread": False})
    _configure_sqlite(engine)
    return StoreEngine(engine, str(path), sqlite_path=path)


def read_only_sqlite(path: Path, why: str) -> StoreEngine:
    """The SQLite file ``path`` for reading only, as it is (SQLite's ``immutable``: no lock, journal or WAL index
    is made beside it, which a directory that cannot be written, or a full disk, would refuse)."""
    uri = f"file:{quote(str(path.resolve()))}?immutable=1"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, check_same_thread=False)

    engine = create_engine("sqlite+pysqlite://", creator=connect)
    return StoreEngine(engine, str(path), sqlite_path=path, read_only=why)


def _from_url(url: str, *, schema: str | None) -> StoreEngine:
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"{url!r} is not a database URL: {exc}") from exc
    location = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database:
            raise StoreError("an in-memory SQLite database cannot be shared; give a file")
        return _sqlite(Path(parsed.database))
    if parsed.get_backend_name() != "postgresql":
        raise StoreError(f"{location}: unsupported database (SQLite file or postgresql+psycopg:// URL)")
    try:
        engine = create_engine(parsed, pool_pre_ping=True, pool_size=8, max_overflow=16)
    except (ArgumentError, ImportError) as exc:
        raise StoreError(f"cannot use {location}: {exc}") from exc
    if schema is not None:
        if not _IDENTIFIER.match(schema):
            raise StoreError(f"schema name {schema!r} is not a plain SQL identifier")
        _configure_search_path(engine, schema)
        location = f"{location} (schema {schema})"
    return StoreEngine(engine, location, schema)


_SQLITE_BUSY_TIMEOUT = 30.0


def _switch_to_wal(cursor: Any) -> None:
    """WAL mode (kept in the file: a no-op once set). Switching needs the file to itself, and SQLite answers
    "database is locked" at once, without waiting out the busy timeout, while another connection holds a lock
    (several processes opening a new store together): so wait here, within the same timeout."""
    deadline = time.monotonic() + _SQLITE_BUSY_TIMEOUT
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _configure_sqlite(engine: Engine) -> None:
    """Autocommit at the driver, our own BEGIN (IMMEDIATE for writes), WAL and a busy timeout."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(_SQLITE_BUSY_TIMEOUT * 1000)}")
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("pydcap_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _configure_search_path(engine: Engine, pg_schema: str) -> None:
    @event.listens_for(engine, "connect", insert=True)
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        cursor = dbapi_connection.cursor()
        cursor.execute(f'SET SESSION search_path TO "{pg_schema}"')
        cursor.close()
        dbapi_connection.autocommit = autocommit
