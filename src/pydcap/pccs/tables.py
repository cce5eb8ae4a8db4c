"""The PCCS's own tables beside the store's (same database): cached platforms, their verified PCK certificates,
the certificate each raw TCB selects, and Intel's registration queue (``reg`` new, ``reg_na`` not available)."""

from __future__ import annotations

from sqlalchemy import Column, Engine, Float, Integer, LargeBinary, MetaData, String, Table, Text

from pydcap.cache.store import create_tables

metadata = MetaData()

platforms = Table(
    "pydcap_pccs_platforms",
    metadata,
    Column("root_id", String(80), primary_key=True),
    Column("qe_id", String(260), primary_key=True),
    Column("pce_id", String(4), primary_key=True),
    Column("fmspc", String(12), nullable=False),
    Column("ca", String(16), nullable=False),
    Column("enc_ppid", Text, nullable=False),
    Column("platform_manifest", Text, nullable=False),
    Column("issuer_chain", LargeBinary, nullable=False),
    Column("updated_at", Float, nullable=False),
)

pck_certs = Table(
    "pydcap_pccs_pck_certs",
    metadata,
    Column("root_id", String(80), primary_key=True),
    Column("qe_id", String(260), primary_key=True),
    Column("pce_id", String(4), primary_key=True),
    Column("tcbm", String(36), primary_key=True),
    Column("position", Integer, nullable=False),  # the upstream's order, which Intel's selection follows
    Column("tcb", Text, nullable=False),  # the "tcb" object PCS gave beside the certificate (JSON)
    Column("cert", LargeBinary, nullable=False),  # PEM
)

platform_tcbs = Table(
    "pydcap_pccs_platform_tcbs",
    metadata,
    Column("root_id", String(80), primary_key=True),
    Column("qe_id", String(260), primary_key=True),
    Column("pce_id", String(4), primary_key=True),
    Column("cpu_svn", String(32), primary_key=True),
    Column("pce_svn", String(4), primary_key=True),
    Column("tcbm", String(36), nullable=False),
    Column("updated_at", Float, nullable=False),
)

registrations = Table(
    "pydcap_pccs_registrations",
    metadata,
    Column("qe_id", String(260), primary_key=True),
    Column("pce_id", String(4), primary_key=True),
    Column("cpu_svn", String(32), primary_key=True),
    Column("pce_svn", String(4), primary_key=True),
    Column("enc_ppid", Text, nullable=False),
    Column("platform_manifest", Text, nullable=False),
    Column("state", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)

STATE_NEW = 0
STATE_NOT_AVAILABLE = 1
STATE_DELETED = 9
QUEUE_STATES = {"reg": STATE_NEW, "reg_na": STATE_NOT_AVAILABLE}  # by the name GET platforms?source= gives


def ensure_tables(engine: Engine) -> None:
    """Create the tables that are missing (concurrent first starts of several replicas are serialised)."""
    create_tables(engine, metadata, lock=0x7079_6463_6373, what="the PCCS tables")
