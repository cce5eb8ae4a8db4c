"""A signed document's body is decoded once: what ``SignedDocument.parse`` and ``from_parts`` keep is what
``json.loads`` of the body gives."""

from __future__ import annotations

import json

from pydcap.collateral.signed import SignedDocument
from pydcap.sim import SimulatedIntel


def test_the_body_read_while_cutting_it_out_is_the_body_decoded() -> None:
    intel = SimulatedIntel(seed=47)
    collateral = intel.collateral_for(intel.tdx_platform())
    for document in (collateral.tcb_info, collateral.qe_identity):
        served = SignedDocument.parse(document.to_bytes(), document.body_key, "document")
        stored = SignedDocument.from_parts(document.body, document.signature.hex(), document.body_key, "document")
        for read in (served, stored):
            assert read == document
            assert read.parsed_body == json.loads(document.body)
            assert read.compact_body == document.body
