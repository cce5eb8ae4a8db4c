"""Reading and writing the PCCS tables: cached platforms, their PCK certificates, the certificate each raw
TCB selects, and the registration queue. Synchronous (SQLAlchemy Core); every write is one transaction.
Hex values are kept upper-case, as Intel's PCCS normalises them (its admin tool shows them that way).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from pydcap.cache.store import read_transaction, write_transaction
from pydcap.intel.time import Clock
from pydcap.pccs import tables as t

_BATCH = 500


@dataclass(frozen=True)
class PlatformRecord:
    qe_id: str
    pce_id: str
    fmspc: str
    ca: str  # PROCESSOR or PLATFORM
    enc_ppid: str
    platform_manifest: str
    issuer_chain: bytes  # PEM: the PCK CA, then the root


@dataclass(frozen=True)
class CertificateRecord:
    tcbm: str
    tcb: str  # JSON
    cert: bytes  # PEM


@dataclass(frozen=True)
class RawTcb:
    cpu_svn: str
    pce_svn: str


@dataclass(frozen=True)
class Registration:
    """One row of Intel's registration queue, in the shape of its ``platforms`` API and admin tool."""

    qe_id: str
    pce_id: str
    cpu_svn: str = ""
    pce_svn: str = ""
    enc_ppid: str = ""
    platform_manifest: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "qe_id": self.qe_id,
            "pce_id": self.pce_id,
            "cpu_svn": self.cpu_svn,
            "pce_svn": self.pce_svn,
            "platform_manifest": self.platform_manifest,
            "enc_ppid": self.enc_ppid,
        }


class PlatformRegistry:
    """The PCCS tables of one trust root (``root_id``) in the database behind ``engine``; ``clock`` dates changes."""

    def __init__(self, engine: Engine, root_id: str, *, clock: Clock = time.time) -> None:
        self.engine = engine
        self.root_id = root_id
        self.clock = clock  # what ``updated_at`` says: the service's clock
        t.ensure_tables(engine)

    def _write(self) -> AbstractContextManager[Connection]:
        return write_transaction(self.engine)

    def _read(self) -> AbstractContextManager[Connection]:
        return read_transaction(self.engine)

    def _upsert(self, table: Any, values: dict[str, Any], keys: Sequence[str]) -> Any:
        insert = sqlite.insert if self.engine.dialect.name == "sqlite" else postgresql.insert
        stmt = insert(table).values(**values)
        return stmt.on_conflict_do_update(
            index_elements=[table.c[k] for k in keys],
            set_={k: stmt.excluded[k] for k in values if k not in keys},
        )

    def _platform_key(self, table: Any, qe_id: str, pce_id: str) -> Any:
        return and_(table.c.root_id == self.root_id, table.c.qe_id == qe_id, table.c.pce_id == pce_id)

    # ---- platforms and certificates -----------------------------------------------------------------

    def platform(self, qe_id: str, pce_id: str) -> PlatformRecord | None:
        stamped = self.stamped_platform(qe_id, pce_id)
        return stamped[0] if stamped is not None else None

    def stamped_platform(self, qe_id: str, pce_id: str) -> tuple[PlatformRecord, float] | None:
        """The platform and when it was last stored (by any process on the database), or None."""
        with self._read() as conn:
            row = conn.execute(select(t.platforms).where(self._platform_key(t.platforms, qe_id, pce_id))).first()
        return (_platform(row), float(row.updated_at)) if row is not None else None

    def platforms(self, fmspcs: Sequence[str] | None = None) -> list[PlatformRecord]:
        query = select(t.platforms).where(t.platforms.c.root_id == self.root_id)
        if fmspcs:
            query = query.where(t.platforms.c.fmspc.in_([f.upper() for f in fmspcs]))
        with self._read() as conn:
            rows = conn.execute(query.order_by(t.platforms.c.qe_id, t.platforms.c.pce_id)).all()
        return [_platform(row) for row in rows]

    def certificates(self, qe_id: str, pce_id: str) -> list[CertificateRecord]:
        c = t.pck_certs
        query = select(c.c.tcbm, c.c.tcb, c.c.cert).where(self._platform_key(c, qe_id, pce_id)).order_by(c.c.position)
        with self._read() as conn:
            return [CertificateRecord(r.tcbm, r.tcb, bytes(r.cert)) for r in conn.execute(query)]

    def selected(self, qe_id: str, pce_id: str, raw: RawTcb) -> CertificateRecord | None:
        """The certificate already selected for this raw TCB, if it was seen before."""
        c, p = t.pck_certs, t.platform_tcbs
        query = (
            select(c.c.tcbm, c.c.tcb, c.c.cert)
            .select_from(
                p.join(
                    c,
                    and_(
                        c.c.root_id == p.c.root_id,
                        c.c.qe_id == p.c.qe_id,
                        c.c.pce_id == p.c.pce_id,
                        c.c.tcbm == p.c.tcbm,
                    ),
                )
            )
            .where(self._platform_key(p, qe_id, pce_id), p.c.cpu_svn == raw.cpu_svn, p.c.pce_svn == raw.pce_svn)
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        return CertificateRecord(row.tcbm, row.tcb, bytes(row.cert)) if row is not None else None

    def raw_tcbs(self, qe_id: str, pce_id: str) -> list[RawTcb]:
        p = t.platform_tcbs
        query = select(p.c.cpu_svn, p.c.pce_svn).where(self._platform_key(p, qe_id, pce_id))
        with self._read() as conn:
            return [RawTcb(r.cpu_svn, r.pce_svn) for r in conn.execute(query.order_by(p.c.cpu_svn, p.c.pce_svn))]

    def record_selection(self, qe_id: str, pce_id: str, raw: RawTcb, tcbm: str) -> None:
        values = {
            "root_id": self.root_id, "qe_id": qe_id, "pce_id": pce_id, "cpu_svn": raw.cpu_svn,
            "pce_svn": raw.pce_svn, "tcbm": tcbm, "updated_at": self.clock(),
        }  # fmt: skip
        with self._write() as conn:
            conn.execute(self._upsert(t.platform_tcbs, values, ("root_id", "qe_id", "pce_id", "cpu_svn", "pce_svn")))

    def replace_platform(
        self,
        record: PlatformRecord,
        certificates: Sequence[CertificateRecord],
        selections: Sequence[tuple[RawTcb, str]],
        *,
        conn: Connection | None = None,
    ) -> None:
        """The platform, all its certificates and the selection of every raw TCB, in one transaction: ``conn``
        (the store's ``transaction()``, of which this is a part), or one of its own."""
        now = self.clock()
        key = {"root_id": self.root_id, "qe_id": record.qe_id, "pce_id": record.pce_id}
        values = {
            **key, "fmspc": record.fmspc, "ca": record.ca, "enc_ppid": record.enc_ppid,
            "platform_manifest": record.platform_manifest, "issuer_chain": record.issuer_chain, "updated_at": now,
        }  # fmt: skip
        certs = [
            {**key, "tcbm": c.tcbm, "position": i, "tcb": c.tcb, "cert": c.cert} for i, c in enumerate(certificates)
        ]
        tcbs = [
            {**key, "cpu_svn": raw.cpu_svn, "pce_svn": raw.pce_svn, "tcbm": tcbm, "updated_at": now}
            for raw, tcbm in dict(selections).items()
        ]

        def write(writing: Connection) -> None:
            writing.execute(self._upsert(t.platforms, values, ("root_id", "qe_id", "pce_id")))
            for table, rows in ((t.pck_certs, certs), (t.platform_tcbs, tcbs)):
                writing.execute(delete(table).where(self._platform_key(table, record.qe_id, record.pce_id)))
                if rows:
                    writing.execute(table.insert(), rows)

        if conn is not None:
            write(conn)
            return
        with self._write() as own:
            write(own)

    def cached_platform_rows(self, fmspcs: Sequence[str]) -> list[dict[str, str]]:
        """``GET platforms?source=[FMSPC,...]``: every cached platform and raw TCB (all when ``fmspcs`` is empty)."""
        p, tcbs = t.platforms, t.platform_tcbs
        query = (
            select(p.c.qe_id, p.c.pce_id, tcbs.c.cpu_svn, tcbs.c.pce_svn, p.c.enc_ppid, p.c.platform_manifest)
            .select_from(
                p.join(
                    tcbs, and_(tcbs.c.root_id == p.c.root_id, tcbs.c.qe_id == p.c.qe_id, tcbs.c.pce_id == p.c.pce_id)
                )
            )
            .where(p.c.root_id == self.root_id)
            .order_by(p.c.qe_id, p.c.pce_id, tcbs.c.cpu_svn, tcbs.c.pce_svn)
        )
        if fmspcs:
            query = query.where(p.c.fmspc.in_([f.upper() for f in fmspcs]))
        with self._read() as conn:
            return [
                {
                    "qe_id": r.qe_id,
                    "pce_id": r.pce_id,
                    "cpu_svn": r.cpu_svn,
                    "pce_svn": r.pce_svn,
                    "enc_ppid": r.enc_ppid.upper(),
                    "platform_manifest": r.platform_manifest.upper(),
                }
                for r in conn.execute(query)
            ]

    # ---- the registration queue ---------------------------------------------------------------------

    def register(self, registration: Registration, state: int) -> None:
        values = {
            "qe_id": registration.qe_id, "pce_id": registration.pce_id, "cpu_svn": registration.cpu_svn,
            "pce_svn": registration.pce_svn, "enc_ppid": registration.enc_ppid,
            "platform_manifest": registration.platform_manifest, "state": state, "updated_at": self.clock(),
        }  # fmt: skip
        with self._write() as conn:
            conn.execute(self._upsert(t.registrations, values, ("qe_id", "pce_id", "cpu_svn", "pce_svn")))

    def registered(self, registration: Registration) -> None:
        """The registration was handled: it leaves the ``reg`` queue. Only a row still new is marked: the fetch
        may have queued the same raw TCB as not available (``reg_na``), and it must stay queued."""
        r = t.registrations
        key = and_(
            r.c.qe_id == registration.qe_id, r.c.pce_id == registration.pce_id, r.c.cpu_svn == registration.cpu_svn,
            r.c.pce_svn == registration.pce_svn, r.c.state == t.STATE_NEW,
        )  # fmt: skip
        with self._write() as conn:
            conn.execute(update(r).where(key).values(state=t.STATE_DELETED, updated_at=self.clock()))

    def registrations(self, state: int, *, take: bool = False) -> list[Registration]:
        """The queue rows in ``state``; with ``take`` they are marked deleted in the same transaction (as
        Intel's ``GET platforms`` does). Only the rows read are marked: on PostgreSQL another replica may
        queue one in between, and it must stay queued for the next reader."""
        r = t.registrations
        query = select(r).where(r.c.state == state).order_by(r.c.updated_at, r.c.qe_id)
        with self._write() as conn:
            rows = conn.execute(query).all()
            if take:
                key = tuple_(r.c.qe_id, r.c.pce_id, r.c.cpu_svn, r.c.pce_svn)
                read = [(row.qe_id, row.pce_id, row.cpu_svn, row.pce_svn) for row in rows]
                for i in range(0, len(read), _BATCH):  # SQLite allows only so many parameters in one statement
                    conn.execute(
                        update(r)
                        .where(r.c.state == state, key.in_(read[i : i + _BATCH]))
                        .values(state=t.STATE_DELETED, updated_at=self.clock())
                    )
        return [
            Registration(row.qe_id, row.pce_id, row.cpu_svn, row.pce_svn, row.enc_ppid, row.platform_manifest)
            for row in rows
        ]


def _platform(row: Any) -> PlatformRecord:
    return PlatformRecord(
        row.qe_id, row.pce_id, row.fmspc, row.ca, row.enc_ppid, row.platform_manifest, bytes(row.issuer_chain)
    )
