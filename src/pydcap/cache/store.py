"""The persistent tier: a SQLite file (WAL mode) or a PostgreSQL database, through SQLAlchemy 2.

Every write is one short transaction (``BEGIN IMMEDIATE`` on SQLite), so a process killed at any moment
leaves the entries it had committed. Leases are rows with an owner and an expiry: a fetch in progress in
one process is seen by the others, and a lease whose owner died on this host is taken over at once.
A database that fails (server gone, file unwritable) raises ``StoreError`` naming the store. A SQLite store
that cannot be written (a read-only directory or file, a full disk) but can be read is opened read-only, with
a one-line warning: it serves what it holds and stores nothing (``read_only`` says why). ``max_bytes`` bounds
what a store keeps: past it, the entries written longest ago are deleted (a client's store; never a PCCS's).
The store trusts its callers: only admitted (verified) entries may be ``put``; ``CollateralCache`` does so.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from pydcap.cache import schema
from pydcap.cache.entry import Entry
from pydcap.cache.errors import StoreError
from pydcap.cache.locations import default_store_path, engine_for, read_only_sqlite
from pydcap.cache.owners import LeaseHolder, owner_is_dead
from pydcap.intel import EntryKey, InvalidKeyError

__all__ = ["CollateralStore", "KindSummary", "StoreSummary", "default_store_path"]

log = logging.getLogger("pydcap.cache")


@dataclass(frozen=True)
class KindSummary:
    kind: str
    entries: int
    fresh: int
    bytes: int


@dataclass(frozen=True)
class StoreSummary:
    location: str
    dialect: str
    kinds: tuple[KindSummary, ...]
    counters: Mapping[str, int]

    @property
    def entries(self) -> int:
        return sum(k.entries for k in self.kinds)


@contextmanager
def write_transaction(engine: Engine, location: str | None = None) -> Iterator[Connection]:
    """A write transaction; on SQLite it takes the write lock at once (BEGIN IMMEDIATE), so two writers
    never both read and then fail to upgrade. A failure of the database raises ``StoreError`` naming
    ``location`` (default: the engine's URL without its password)."""
    with _named_failures(engine, location), engine.connect() as conn:
        conn.execution_options(pydcap_begin="IMMEDIATE")
        with conn.begin():
            yield conn


def create_tables(engine: Engine, metadata: MetaData, *, lock: int, what: str) -> None:
    """Create the tables of ``metadata`` that are missing, for a service keeping its own tables beside the store's.
    On PostgreSQL the advisory lock ``lock`` serialises the first starts of several replicas; a failure raises
    ``StoreError`` naming ``what``."""
    try:
        with write_transaction(engine) as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(lock)))
            metadata.create_all(conn, checkfirst=True)
    except SQLAlchemyError as exc:
        raise database_failed(f"cannot create {what}", exc) from exc


@contextmanager
def read_transaction(engine: Engine, location: str | None = None) -> Iterator[Connection]:
    """A read transaction; a failure of the database raises ``StoreError``, as ``write_transaction``."""
    with _named_failures(engine, location), engine.connect() as conn, conn.begin():
        yield conn


@contextmanager
def _named_failures(engine: Engine, location: str | None) -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        where = location or engine.url.render_as_string(hide_password=True)
        raise database_failed(f"the cache store {where} failed", exc) from exc


class CollateralStore:
    """Verified entries by (trust root id, key), leases and counters, in one SQL database."""

    def __init__(
        self,
        engine: Engine,
        *,
        location: str,
        pg_schema: str | None = None,
        read_only: str | None = None,
        max_bytes: int | None = None,
    ) -> None:
        self.engine = engine
        self.location = location
        self.read_only = read_only
        self.max_bytes = max_bytes
        self.dialect = engine.dialect.name
        if self.dialect not in ("sqlite", "postgresql"):
            raise StoreError(f"{location}: unsupported database {self.dialect!r} (SQLite or PostgreSQL)")
        if read_only is None:
            self._ensure_schema(pg_schema)
        else:
            self._check_schema()

    # ---- opening --------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, target: str | Path | None = None, *, schema: str | None = None, max_bytes: int | None = None
    ) -> CollateralStore:
        """A store at ``target``: a file path (SQLite), a database URL (``postgresql+psycopg://...``,
        ``sqlite:///...``) or None for ``$PYDCAP_CACHE``, else the default path. ``schema`` selects a
        PostgreSQL schema (created if missing). A SQLite file that cannot be written but can be read is
        opened read-only, with a warning. ``max_bytes``: see the class."""
        found = engine_for(target, schema=schema)
        try:
            store = cls(
                found.engine, location=found.location, pg_schema=found.pg_schema, read_only=found.read_only,
                max_bytes=max_bytes,
            )  # fmt: skip
        except StoreError as exc:
            path = found.sqlite_path
            if path is None or found.read_only is not None or not path.is_file() or exc.busy:
                raise
            found.engine.dispose()
            found = read_only_sqlite(path, f"cannot write it: {exc.reason or exc}")
            store = cls(found.engine, location=found.location, read_only=found.read_only)
        if store.read_only is not None:
            log.warning(
                "the cache store %s is read-only (%s): using what it holds, storing nothing", store.location,
                store.read_only,
            )  # fmt: skip
        return store

    def _check_schema(self) -> None:
        """A read-only store must already be one: its tables there, of a schema this pydcap reads."""
        try:
            with self._read() as conn:
                row = conn.execute(
                    select(schema.settings.c.value).where(schema.settings.c.name == "schema_version")
                ).first()
        except StoreError as exc:
            raise StoreError(f"{self.location} cannot be written ({self.read_only}) and holds no cache: {exc}") from exc
        if row is None or int(row.value) > schema.SCHEMA_VERSION:
            raise StoreError(f"{self.location} cannot be written ({self.read_only}) and holds no cache it can read")

    def _ensure_schema(self, pg_schema: str | None) -> None:
        try:
            with write_transaction(self.engine, self.location) as conn:
                if self.dialect == "postgresql":
                    # Several processes may open a new database at once; DDL must not race.
                    conn.execute(select(func.pg_advisory_xact_lock(0x7079_6463_6170)))
                    if pg_schema is not None:
                        conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{pg_schema}"')
                schema.metadata.create_all(conn, checkfirst=True)
                row = conn.execute(
                    select(schema.settings.c.value).where(schema.settings.c.name == "schema_version")
                ).first()
                if row is None:
                    conn.execute(
                        schema.settings.insert().values(name="schema_version", value=str(schema.SCHEMA_VERSION))
                    )
                elif int(row.value) > schema.SCHEMA_VERSION:
                    raise StoreError(
                        f"{self.location} was written by a newer pydcap (schema {row.value}); upgrade pydcap"
                    )
        except StoreError as exc:
            cause = exc.__cause__
            if not isinstance(cause, SQLAlchemyError):
                raise
            raise database_failed(f"cannot open the cache store {self.location}", cause) from cause

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> CollateralStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- transactions ---------------------------------------------------------------------------

    def _write(self) -> AbstractContextManager[Connection]:
        return write_transaction(self.engine, self.location)

    def transaction(self) -> AbstractContextManager[Connection]:
        """One write transaction for changes that must be made all together or not at all (an import): ``put``,
        ``count`` and the PCCS registry's writes join it with ``conn=``. ``StoreError`` if the store is read-only
        or fails (then nothing of it was made)."""
        if self.read_only is not None:
            raise StoreError(f"{self.location} cannot be written ({self.read_only})")
        return self._write()

    @contextmanager
    def _joined(self, conn: Connection | None) -> Iterator[Connection]:
        """``conn`` (a caller's ``transaction()``), or a write transaction of its own."""
        if conn is not None:
            yield conn
        else:
            with self._write() as own:
                yield own

    def _read(self) -> AbstractContextManager[Connection]:
        return read_transaction(self.engine, self.location)

    def _insert(self) -> Any:
        return sqlite.insert if self.dialect == "sqlite" else postgresql.insert

    # ---- entries --------------------------------------------------------------------------------

    def get(self, root_id: str, key: EntryKey | str, *, conn: Connection | None = None) -> Entry | None:
        """The stored entry, or None (as ``conn``, a ``transaction()``, sees it). The caller re-verifies it
        before serving it."""
        t = schema.entries
        query = select(t).where(t.c.root_id == root_id, t.c.key == str(key))
        if conn is not None:
            row = conn.execute(query).first()
        else:
            with self._read() as own:
                row = own.execute(query).first()
        return _entry(row) if row is not None else None

    def put(
        self,
        root_id: str,
        entry: Entry,
        *,
        release: tuple[str, str] | None = None,
        count: str | None = None,
        conn: Connection | None = None,
    ) -> None:
        """Insert or replace ``entry`` (already verified!), in one transaction (``conn``, a ``transaction()``,
        or one of its own) with releasing the lease ``release`` = (name, owner) and adding one to the counter
        ``count``. Over ``max_bytes``, the entries written longest ago (other than this one) are deleted in the
        same transaction. A read-only store keeps nothing."""
        if self.read_only is not None:
            return
        t = schema.entries
        values = {
            "root_id": root_id,
            "key": str(entry.key),
            "kind": entry.key.kind.value,
            "data": entry.data,
            "issuer_chain": entry.issuer_chain,
            "meta": json.dumps(dict(entry.meta), sort_keys=True),
            "fetched_at": entry.fetched_at,
            "valid_until": entry.valid_until,
            "source": entry.source,
            "stored_at": time.time(),
        }
        stmt = self._insert()(t).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.root_id, t.c.key],
            set_={k: stmt.excluded[k] for k in values if k not in ("root_id", "key")},
        )
        with self._joined(conn) as writing:
            writing.execute(stmt)
            if self.max_bytes is not None:
                self._evict(writing, self.max_bytes, keep=(root_id, str(entry.key)))
            if release is not None:
                self._release(writing, *release)
            if count is not None:
                self._count(writing, count, 1)

    def _evict(self, conn: Connection, limit: int, *, keep: tuple[str, str]) -> None:
        """Delete the entries written longest ago until the rest fit in ``limit`` bytes (``keep`` stays)."""
        t = schema.entries
        size = func.length(t.c.data) + func.length(t.c.issuer_chain) + func.length(t.c.meta)
        total = int(conn.execute(select(func.coalesce(func.sum(size), 0))).scalar_one())
        if total <= limit:
            return
        rows = conn.execute(select(t.c.root_id, t.c.key, size.label("size")).order_by(t.c.stored_at)).all()
        for row in rows:
            if total <= limit:
                break
            if (row.root_id, row.key) == keep:
                continue
            conn.execute(delete(t).where(t.c.root_id == row.root_id, t.c.key == row.key))
            total -= int(row.size)
            self._count(conn, "evicted", 1)

    def _writable(self) -> None:
        if self.read_only is not None:
            raise StoreError(f"the cache store {self.location} is read-only ({self.read_only})")

    def delete(self, root_id: str, key: EntryKey | str) -> bool:
        self._writable()
        t = schema.entries
        with self._write() as conn:
            return bool(conn.execute(delete(t).where(t.c.root_id == root_id, t.c.key == str(key))).rowcount)

    def entries(self, *, root_id: str | None = None, kind: str | None = None) -> list[tuple[str, Entry]]:
        """Every entry as (trust root id, entry), optionally of one root or kind, ordered by key."""
        t = schema.entries
        query = select(t).order_by(t.c.kind, t.c.key, t.c.root_id)
        if root_id is not None:
            query = query.where(t.c.root_id == root_id)
        if kind is not None:
            query = query.where(t.c.kind == kind)
        with self._read() as conn:
            rows = conn.execute(query).all()
        out = []
        for row in rows:
            try:
                out.append((row.root_id, _entry(row)))
            except InvalidKeyError:
                continue  # written by a newer pydcap with kinds this one does not know
        return out

    def clear(self, *, kind: str | None = None) -> int:
        """Remove every entry (or every entry of one kind); returns how many."""
        self._writable()
        t = schema.entries
        stmt = delete(t) if kind is None else delete(t).where(t.c.kind == kind)
        with self._write() as conn:
            removed = conn.execute(stmt).rowcount
            if kind is None:
                conn.execute(delete(schema.leases))
        return int(removed)

    # ---- leases ---------------------------------------------------------------------------------

    def lease(self, name: str) -> LeaseHolder | None:
        """Who holds the lease ``name`` now, if anyone (expired leases and dead local owners count as none)."""
        t = schema.leases
        with self._read() as conn:
            row = conn.execute(select(t.c.owner, t.c.expires_at).where(t.c.name == name)).first()
        if row is None or row.expires_at <= time.time() or owner_is_dead(row.owner):
            return None
        return LeaseHolder(row.owner, row.expires_at)

    def try_lease(self, name: str, owner: str, ttl: float) -> LeaseHolder | None:
        """Take the lease ``name`` for ``ttl`` seconds. None means it is now ``owner``'s; otherwise the
        current holder. Atomic on both databases (an upsert that only overwrites a free lease). A read-only
        store shares nothing: every caller holds every lease."""
        if self.read_only is not None:
            return None
        t = schema.leases
        now = time.time()
        current = self.lease(name)
        if current is not None and current.owner != owner:
            return current
        with self._write() as conn:
            row = conn.execute(select(t.c.owner).where(t.c.name == name)).first()
            takeover = row.owner if row is not None and owner_is_dead(row.owner) else owner
            stmt = self._insert()(t).values(name=name, owner=owner, expires_at=now + ttl)
            stmt = stmt.on_conflict_do_update(
                index_elements=[t.c.name],
                set_={"owner": stmt.excluded.owner, "expires_at": stmt.excluded.expires_at},
                where=(t.c.expires_at <= now) | (t.c.owner == owner) | (t.c.owner == takeover),
            )
            conn.execute(stmt)
            row = conn.execute(select(t.c.owner, t.c.expires_at).where(t.c.name == name)).first()
        if row is not None and row.owner == owner:
            return None
        return LeaseHolder(row.owner, row.expires_at) if row is not None else LeaseHolder("unknown", now)

    def release(self, name: str, owner: str) -> None:
        if self.read_only is not None:
            return
        with self._write() as conn:
            self._release(conn, name, owner)

    @staticmethod
    def _release(conn: Connection, name: str, owner: str) -> None:
        t = schema.leases
        conn.execute(delete(t).where(t.c.name == name, t.c.owner == owner))

    # ---- counters and summaries -----------------------------------------------------------------

    def count(self, name: str, n: int = 1, *, conn: Connection | None = None) -> None:
        if self.read_only is not None:
            return
        with self._joined(conn) as writing:
            self._count(writing, name, n)

    def _count(self, conn: Connection, name: str, n: int) -> None:
        t = schema.counters
        stmt = self._insert()(t).values(name=name, value=n)
        stmt = stmt.on_conflict_do_update(index_elements=[t.c.name], set_={"value": t.c.value + n})
        conn.execute(stmt)

    def counters(self) -> dict[str, int]:
        t = schema.counters
        with self._read() as conn:
            return {row.name: int(row.value) for row in conn.execute(select(t.c.name, t.c.value))}

    def summary(self, now: float) -> StoreSummary:
        """Entries, fresh entries (``valid_until`` after ``now``) and bytes by kind, and the counters."""
        t = schema.entries
        query = (
            select(
                t.c.kind,
                func.count(),
                func.sum(case((t.c.valid_until > int(now), 1), else_=0)),
                func.sum(func.length(t.c.data) + func.length(t.c.issuer_chain)),
            )
            .group_by(t.c.kind)
            .order_by(t.c.kind)
        )
        with self._read() as conn:
            kinds = tuple(
                KindSummary(kind, int(n), int(fresh or 0), int(size or 0))
                for kind, n, fresh, size in conn.execute(query).all()
            )
        return StoreSummary(self.location, self.dialect, kinds, self.counters())

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` (``"ok"`` when sound); PostgreSQL answers ``"ok"``."""
        if self.dialect != "sqlite":
            return "ok"
        with self._read() as conn:
            return str(conn.exec_driver_sql("PRAGMA integrity_check").scalar())


def database_failed(what: str, exc: SQLAlchemyError) -> StoreError:
    """``StoreError("<what>: <the database's words>")``, with the words and whether the database was busy as fields."""
    reason = _reason(exc)
    orig = getattr(exc, "orig", None)
    busy = getattr(orig, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return StoreError(f"{what}: {reason}", reason=reason, busy=busy)


def _reason(exc: SQLAlchemyError) -> str:
    """The database's own words, without SQLAlchemy's statement dump and documentation link."""
    orig = getattr(exc, "orig", None)
    lines = str(orig if orig is not None else exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _meta(text: str) -> dict[str, str]:
    # Unreadable meta (a damaged or edited row) counts as none: it is descriptive, and the cache re-derives
    # from the verified document everything it relies on.
    try:
        meta = json.loads(text) if text else {}
    except (ValueError, RecursionError):
        return {}
    return {str(k): str(v) for k, v in meta.items()} if isinstance(meta, dict) else {}


def _entry(row: Any) -> Entry:
    return Entry(
        key=EntryKey.parse(row.key),
        data=bytes(row.data),
        issuer_chain=bytes(row.issuer_chain),
        fetched_at=int(row.fetched_at),
        valid_until=int(row.valid_until),
        source=row.source,
        meta=_meta(row.meta),
        origin="store",
        stored_at=float(row.stored_at),
    )
