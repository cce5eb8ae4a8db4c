"""The DER reader's cheap pass over a SEQUENCE OF SEQUENCE { OID, ... }: what it finds, and what it refuses."""

from __future__ import annotations

import pytest

from pydcap.pki import der
from pydcap.sim.der_writer import boolean, octet_string, oid, sequence

AKI, KU = "2.5.29.35", "2.5.29.15"
BIG = octet_string(bytes(300))  # long-form lengths, as in a PCK certificate's SGX extension


def test_each_element_is_named_by_its_oid_in_order() -> None:
    elements = [sequence([oid(AKI), BIG]), sequence([oid(KU), boolean(True), octet_string(b"\x03\x02\x01\x06")])]
    found = der.elements_by_oid(sequence(elements))
    assert list(found) == [der.encode_oid(AKI), der.encode_oid(KU)]
    assert der.read_all(found[der.encode_oid(AKI)])[-1].value == bytes(300)
    assert der.elements_by_oid(sequence([])) == {}
    twice = der.elements_by_oid(sequence([*elements, sequence([oid(AKI), octet_string(b"later")])]))
    assert twice[der.encode_oid(AKI)] == der.content(elements[0], der.TAG_SEQUENCE)  # of duplicates, the first


@pytest.mark.parametrize(
    "data",
    [
        sequence([sequence([octet_string(b"x"), BIG])]),  # not opened by an OID
        sequence([sequence([])]),  # empty element
        sequence([octet_string(b"x")]),  # an element that is not a SEQUENCE
        sequence([sequence([oid(AKI)])])[:-1],  # truncated
        sequence([sequence([oid(AKI)])]) + b"\x00",  # bytes after the SEQUENCE
        sequence([sequence([b"\x06\x81\x03\x55\x1d\x23"])]),  # an OID with a long-form length
    ],
)
def test_malformed_input_is_refused(data: bytes) -> None:
    with pytest.raises(der.DerError):
        der.elements_by_oid(data)
