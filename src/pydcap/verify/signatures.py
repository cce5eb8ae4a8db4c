"""Moved: this lives in ``pydcap.trust.signatures`` (edit it there). This module re-exports it for code written
before the move, and goes away once nothing imports it."""

from pydcap.trust.signatures import document_signature_ok, public_key_from_point, public_key_from_raw, verify_raw

__all__ = ["document_signature_ok", "public_key_from_point", "public_key_from_raw", "verify_raw"]
