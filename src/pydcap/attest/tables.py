"""The attestation service's tables beside the collateral store's (same database, so replicas share them):
signing keys of each tenant, and each tenant's policy for each attestation type."""

from __future__ import annotations

from sqlalchemy import Column, Engine, Float, LargeBinary, MetaData, String, Table, Text

from pydcap.cache.store import create_tables

metadata = MetaData()

signing_keys = Table(
    "pydcap_attest_keys",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("kid", String(64), primary_key=True),
    Column("algorithm", String(8), nullable=False),
    Column("private_key", LargeBinary, nullable=False),  # PKCS#8 PEM: whoever reads the database can sign
    Column("certificate", LargeBinary, nullable=False),  # DER, self-signed
    Column("created_at", Float, nullable=False),
    Column("retired_at", Float, nullable=True),  # a newer key signs since; kept in the JWKS until tokens expire
)

policies = Table(
    "pydcap_attest_policies",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("attestation_type", String(32), primary_key=True),
    Column("document", Text, nullable=False),  # the policy JWS as the administrator sent it
    Column("updated_at", Float, nullable=False),
)


def ensure_tables(engine: Engine) -> None:
    """Create the tables that are missing (concurrent first starts of several replicas are serialised)."""
    create_tables(engine, metadata, lock=0x7079_6463_6174, what="the attestation service's tables")
