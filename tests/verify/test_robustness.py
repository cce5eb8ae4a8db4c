"""Whatever the bytes, verification returns a result: mutated quotes and collateral never raise."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pydcap import Collateral, Verifier
from tests.support.testdata import REAL

# A mutated certificate may carry a non-positive serial number, which cryptography reads with a deprecation warning:
# expected of garbage, and no part of what these tests check.
pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")

_CASES = [(b.quote, Collateral.load(b.path), b.at) for b in REAL]
_VERIFIER = Verifier()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_quote_gives_a_result(data: st.DataObject) -> None:
    if not _CASES:
        return
    quote, collateral, at = data.draw(st.sampled_from(_CASES))
    edits = data.draw(st.lists(st.tuples(st.integers(0, len(quote) - 1), st.integers(0, 255)), min_size=1, max_size=4))
    mutated = bytearray(quote)
    for pos, value in edits:
        mutated[pos] = value
    result = _VERIFIER.appraise(bytes(mutated), collateral, at=at)
    assert (result.failure is None) == (result.tcb_status is not None)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_collateral_gives_a_result(data: st.DataObject) -> None:
    if not _CASES:
        return
    quote, collateral, at = data.draw(st.sampled_from(_CASES))
    part = data.draw(st.sampled_from(["pck_crl", "root_ca_crl", "pck_crl_issuer_chain", "tcb_info_issuer_chain"]))
    raw = bytearray(getattr(collateral, part))
    for pos, value in data.draw(st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)), max_size=4)):
        raw[pos] = value
    result = Verifier().appraise(quote, dataclasses.replace(collateral, **{part: bytes(raw)}), at=at)
    assert (result.failure is None) == (result.tcb_status is not None)
