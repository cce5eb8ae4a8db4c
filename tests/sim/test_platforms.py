"""Simulated platforms: identity by name, PCK certificates selected the way PCS selects them (or withheld as
"Not available"), revocation, and collateral resolved from a platform or from a quote."""

from __future__ import annotations

import struct

import pytest

from pydcap import Verifier
from pydcap.intel.protocol import pckcert_params
from pydcap.pki import Certificate, PckCertificate, RevocationList, SgxType
from pydcap.sim import REFERENCE_TIME, SimulatedIntel
from pydcap.sim.catalog import RECOVERED_SGX_TCB, SGX_TCB_FOR_STATUS, TDX_FMSPC, UP_TO_DATE, components
from tests.support.sim import AT


def _pck(pem: bytes) -> PckCertificate:
    return PckCertificate.from_certificate(Certificate.from_pem(pem))


def test_a_name_is_a_machine(intel: SimulatedIntel) -> None:
    a = intel.sgx_platform(name="node-a")
    again = intel.sgx_platform(name="node-a", pce_svn=12)
    b = intel.sgx_platform(name="node-b")
    assert (a.ppid, a.qe_id, a.encrypted_ppid) == (again.ppid, again.qe_id, again.encrypted_ppid)
    assert a.pck.serial != again.pck.serial  # another TCB level, another PCK certificate
    assert a.ppid != b.ppid and a.qe_id != b.qe_id
    assert intel.find_platform(encrypted_ppid=b.encrypted_ppid) is b


def test_pck_certificates_cover_every_level_highest_first(intel: SimulatedIntel) -> None:
    platform = intel.sgx_platform()
    certs = intel.pck_certificates(platform)
    tcbs = [(tuple(tcb[f"sgxtcbcomp{i:02d}svn"] for i in range(1, 17)), tcb["pcesvn"]) for tcb, _, _ in certs]
    assert tcbs == sorted(set(tcbs), reverse=True)
    assert RECOVERED_SGX_TCB in tcbs  # early (post-recovery) levels too
    for tcb, tcbm, pem in certs:
        pck = _pck(pem)
        assert pck.sgx.ppid == platform.ppid
        assert list(pck.sgx.tcb.components) == [tcb[f"sgxtcbcomp{i:02d}svn"] for i in range(1, 17)]
        assert tcbm == (pck.sgx.tcb.cpu_svn + struct.pack("<H", pck.sgx.tcb.pce_svn)).hex().upper()


def test_the_platform_uses_the_certificate_pcs_selects(intel: SimulatedIntel) -> None:
    up_to_date, pce = SGX_TCB_FOR_STATUS[UP_TO_DATE]
    ahead = intel.sgx_platform(
        name="ahead", cpu_svn=bytes(c + (1 if i > 7 else 0) for i, c in enumerate(up_to_date)), pce_svn=pce + 2
    )
    assert ahead.pck.components == up_to_date and ahead.pck.pce_svn == pce
    assert intel.select_pck(ahead, ahead.cpu_svn, ahead.pce_svn) == ahead.pck
    recovered = intel.select_pck(ahead, bytes(components(9, 1)), 13)
    assert recovered is not None and (recovered.components, recovered.pce_svn) == RECOVERED_SGX_TCB
    below = intel.sgx_platform(name="below", cpu_svn=bytes(components(1, 0)))
    assert below.pck.components == tuple(components(1, 0))  # below every level: certified at its own TCB
    # PCS holds the certificate the platform was given (its quotes carry it), so a quote provider finds it too
    assert intel.select_pck(below, below.cpu_svn, below.pce_svn) is below.pck
    assert below.pck.tcbm in [tcbm for _, tcbm, _ in intel.pck_certificates(below)]
    assert intel.select_pck(below, bytes(components(0, 0)), below.pce_svn) is None  # lower still: PCS says 404


def test_withheld_pck_certificates_are_not_available(intel: SimulatedIntel) -> None:
    # After a TCB recovery: the platform runs the newest microcode, whose certificate Intel has not generated yet.
    recovered, pce_svn = RECOVERED_SGX_TCB
    platform = intel.sgx_platform(name="withheld", cpu_svn=bytes(recovered), pce_svn=pce_svn)
    other = intel.sgx_platform(name="withheld-neighbour", cpu_svn=bytes(recovered), pce_svn=pce_svn)
    issued = intel.pck_certificates(platform)
    top, second = issued[0], issued[1]
    assert top[1] == platform.pck.tcbm
    intel.withhold_pck_certificates(platform, [RECOVERED_SGX_TCB])
    assert intel.pck_certificates(platform) == [(top[0], top[1], None), *issued[1:]]
    assert intel.select_pck(platform, platform.cpu_svn, platform.pce_svn) is None  # no fallback: PCS says 404
    raw, raw_pce = bytes.fromhex(second[1][:32]), int.from_bytes(bytes.fromhex(second[1][32:]), "little")
    lower = intel.select_pck(platform, raw, raw_pce)
    assert lower is not None and lower.tcbm == second[1]
    assert intel.pck_certificates(other)[0][2] is not None  # another machine is not affected
    intel.withhold_pck_certificates(platform)  # every level now: a platform Intel has not certified yet
    assert [pem for _, _, pem in intel.pck_certificates(platform)] == [None] * len(issued)
    assert [tcbm for _, tcbm, _ in intel.pck_certificates(platform)] == [tcbm for _, tcbm, _ in issued]
    assert intel.select_pck(platform, raw, raw_pce) is None
    intel.release_pck_certificates(platform)
    assert intel.pck_certificates(platform) == issued
    assert intel.select_pck(platform, platform.cpu_svn, platform.pce_svn) == platform.pck


def test_platform_ca_platforms_are_multi_package(intel: SimulatedIntel) -> None:
    multi = intel.sgx_platform(name="multi", ca="platform")
    single = intel.sgx_platform(name="single")
    assert multi.platform_manifest is not None and len(multi.platform_manifest) >= 8431
    assert single.platform_manifest is None and single.platform_instance_id is None
    sgx = _pck(multi.pck_certificate_pem).sgx
    assert sgx.sgx_type == SgxType.SCALABLE and sgx.platform_instance_id == multi.platform_instance_id
    assert (sgx.dynamic_platform, sgx.cached_keys, sgx.smt_enabled) == (True, True, True)
    assert _pck(multi.pck_certificate_pem).ca_type == "platform"
    assert intel.find_platform(platform_manifest=multi.platform_manifest) is multi


def test_revoking_a_platform_revokes_every_level() -> None:
    intel = SimulatedIntel(seed=5, now=REFERENCE_TIME)
    platform = intel.sgx_platform()
    intel.revoke(platform)
    crl = RevocationList.parse(intel.pck_crl("processor"))
    for _, _, pem in intel.pck_certificates(platform):
        assert crl.revokes(Certificate.from_pem(pem))
    assert not RevocationList.parse(intel.pck_crl("platform")).revokes(Certificate.from_pem(platform.pck.pem))


def test_collateral_resolves_from_platform_quote_and_foreign_quote(intel: SimulatedIntel) -> None:
    platform = intel.tdx_platform()
    quote = platform.quote()
    assert intel.collateral_for(quote).digest == intel.collateral_for(platform).digest
    twin = SimulatedIntel(seed=7, now=REFERENCE_TIME)  # same PKI, but it never saw this platform
    assert twin.collateral_for(quote).digest == intel.collateral_for(platform).digest
    with pytest.raises(ValueError, match="not issued by this simulated Intel"):
        SimulatedIntel(seed=8, now=REFERENCE_TIME).collateral_for(quote)


def test_unknown_fmspcs_get_the_default_levels(intel: SimulatedIntel) -> None:
    platform = intel.sgx_platform(name="new-model", fmspc="20A0F1000000")
    assert intel.catalog.entry(platform.fmspc) is not None
    assert {"platform": "E5", "fmspc": "20A0F1000000"} in intel.fmspcs()
    with pytest.raises(ValueError, match="not a TDX platform"):
        intel.tdx_platform(fmspc="00906ED50000")


def test_tdx_settings(intel: SimulatedIntel) -> None:
    td = intel.tdx_platform(name="tdx-settings", module_svn=6, module_version=3, late_microcode=4)
    assert td.tee_tcb_svn[:3] == bytes([6, 3, 4]) and td.tee_tcb_svn2 is None and td.td_version == "1.0"
    assert td.module_version == 3 and td.fmspc == TDX_FMSPC and td.ca == "platform"
    td15 = intel.tdx_platform(name="tdx-settings", td_version="1.5")
    assert td15.tee_tcb_svn2 == td15.tee_tcb_svn and td15.default_quote_version == 5
    with pytest.raises(ValueError, match="td_version"):
        intel.tdx_platform(td_version="2.0")
    with pytest.raises(ValueError, match="TEE_TCB_SVN"):
        intel.tdx_platform(tee_tcb_svn=bytes(15))


def test_platform_id_is_what_pcs_is_asked(intel: SimulatedIntel) -> None:
    platform = intel.sgx_platform(pce_svn=13)
    params = pckcert_params(platform.platform_id, with_qe_id=False)
    assert params["pcesvn"] == "0d00" and len(params["encrypted_ppid"]) == 768
    assert params["cpusvn"] == platform.cpu_svn.hex() and params["pceid"] == "0000"


@pytest.mark.parametrize("ca", ["processor", "platform"])
def test_supplemental_data_describes_the_platform(intel: SimulatedIntel, verifier: Verifier, ca: str) -> None:
    platform = intel.sgx_platform(name=f"supplemental-{ca}", ca=ca)
    result = verifier.appraise(platform.quote(), intel.collateral_for(platform), at=AT)
    s = result.supplemental
    assert s is not None
    assert (s.fmspc, s.pce_id, s.ppid, s.ca_type) == (platform.fmspc, platform.pce_id, platform.ppid, ca)
    assert s.sgx_type == ("Scalable" if ca == "platform" else "Standard")
    assert s.platform_instance_id == platform.platform_instance_id
    flags = (s.dynamic_platform, s.cached_keys, s.smt_enabled)
    assert flags == ((True, True, True) if ca == "platform" else (None, None, None))
    assert s.root_key_id == intel.trust_root.key_id
    assert s.tcb_evaluation_data_number == intel.catalog.standard
    assert s.earliest_expiration_date == intel.now + 30 * 86_400


def test_platforms_print_briefly(intel: SimulatedIntel) -> None:
    text = repr(intel.tdx_platform(scenario="module-out-of-date"))
    assert text.startswith("SimulatedTdxPlatform(name='module-out-of-date', fmspc=00806F050000")
    assert "key" not in text


def test_default_now_gives_collateral_fresh_at_the_current_time() -> None:
    intel = SimulatedIntel(seed=3)  # issued today, verified now
    platform = intel.tdx_platform()
    result = Verifier(trusted_root=intel.trust_root).verify(platform.quote(), intel.collateral_for(platform))
    assert result.accepted, result.reasons
    assert not result.collateral_expired
