"""Quote layouts Intel's 2026 verifier accepts besides the usual ones, verified as Intel verifies them."""

from __future__ import annotations

import struct

import pytest

from pydcap import Collateral, Quote, Verifier, verify_quote
from pydcap.quote import TdReport15Ex
from pydcap.sim import REFERENCE_TIME, SimulatedIntel
from pydcap.sim.keys import sign_raw
from pydcap.verify import QvResult, TcbStatus
from tests.support.quotes import with_slack
from tests.support.testdata import REAL, Bundle, bundle_params, require_testdata

AT = int(REFERENCE_TIME.timestamp()) + 3600


@pytest.mark.parametrize("bundle", bundle_params(REAL))
def test_signature_data_longer_than_its_contents_gives_the_same_verdict(bundle: Bundle | None) -> None:
    """Intel ignores bytes after the certification data inside the signature data (the signature covers only
    the header and body), so the verdict is the bundle's own."""
    require_testdata()
    assert bundle is not None
    collateral = Collateral.load(bundle.path)
    plain = verify_quote(bundle.quote, collateral, at=bundle.at)
    padded = verify_quote(with_slack(bundle.quote, b"\x00" * 16), collateral, at=bundle.at)
    assert (padded.failure, padded.tcb_status, padded.advisory_ids) == (
        plain.failure,
        plain.tcb_status,
        plain.advisory_ids,
    )


def _as_td15_ex(quote: bytes, attestation_key: object) -> bytes:
    """A TD 1.5 quote rewritten with the 885-byte TD 1.5 Ex body (type 4) and signed again."""
    q = Quote.parse(quote)
    signed = q.signed_data[:48] + struct.pack("<HI", 4, 885) + q.body.raw + bytes(range(237))
    rest = quote[len(q.signed_data) + 4 + 64 : len(quote) - q.trailing_bytes]  # attestation key, QE section
    auth = sign_raw(attestation_key, signed) + rest  # type: ignore[arg-type]
    return signed + struct.pack("<I", len(auth)) + auth


@pytest.mark.parametrize(
    ("scenario", "status", "qv_result"),
    [
        ("td-relaunch-advised", TcbStatus.TD_RELAUNCH_ADVISED, QvResult.TD_RELAUNCH_ADVISED),
        (
            "td-relaunch-advised-configuration-needed",
            TcbStatus.TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED,
            QvResult.TD_RELAUNCH_ADVISED_CONFIG_NEEDED,
        ),
    ],
)
def test_td15_ex_quote_is_verified_as_td15(scenario: str, status: TcbStatus, qv_result: QvResult) -> None:
    """Intel evaluates a type 4 body like a TD 1.5 body: launch and current TCB, then the relaunch rule."""
    intel = SimulatedIntel(seed=13, now=REFERENCE_TIME)
    platform = intel.tdx_platform(scenario=scenario)
    quote = platform.quote(b"td15 ex", version=5)
    ex = _as_td15_ex(quote, platform.attestation_key)
    assert isinstance(Quote.parse(ex).body, TdReport15Ex)
    verifier = Verifier(trusted_root=intel.trust_root)
    collateral = intel.collateral_for(platform)
    as_td15 = verifier.verify(quote, collateral, at=AT)
    result = verifier.verify(ex, collateral, at=AT)
    assert result.failure is None, result.detail
    assert result.tcb_status == as_td15.tcb_status == status
    assert result.qv_result == qv_result
    assert result.supplemental is not None and as_td15.supplemental is not None
    assert result.supplemental.current_tcb_status == as_td15.supplemental.current_tcb_status
