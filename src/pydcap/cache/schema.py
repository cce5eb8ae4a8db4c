"""The store's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

``pydcap_entries`` holds verified documents keyed by (trust root id, entry key); ``pydcap_leases`` names who
is fetching what (so processes sharing a store fetch once); ``pydcap_counters`` keeps totals across runs.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, LargeBinary, MetaData, String, Table, Text

SCHEMA_VERSION = 1

metadata = MetaData()

entries = Table(
    "pydcap_entries",
    metadata,
    Column("root_id", String(64), primary_key=True),
    Column("key", String(512), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("issuer_chain", LargeBinary, nullable=False),
    Column("meta", Text, nullable=False),
    Column("fetched_at", BigInteger, nullable=False),
    Column("valid_until", BigInteger, nullable=False),
    Column("source", Text, nullable=False),
    Column("stored_at", Float, nullable=False),
    Index("ix_pydcap_entries_kind", "kind"),
)

leases = Table(
    "pydcap_leases",
    metadata,
    Column("name", String(600), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("expires_at", Float, nullable=False),
)

counters = Table(
    "pydcap_counters",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

settings = Table(
    "pydcap_settings",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
