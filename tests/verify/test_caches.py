"""A verifier's memory: bounded by bytes, a compact record per platform, and never a different answer.

What a verifier remembers of a platform (its chain and QE report checked) and of a bundle (its parts checked) must
give, in any order of quotes and bundles, exactly what a new verifier gives."""

from __future__ import annotations

import dataclasses
import gc
import tracemalloc

import pytest
from cryptography.x509.oid import ExtensionOID

from pydcap import Quote, Verifier
from pydcap.pki.certs import split_pem_chain
from pydcap.pki.pck import PckCertificate
from pydcap.pki.trust import TrustRoot
from pydcap.sim import SCENARIOS, SimulatedIntel
from pydcap.sim.fleet import Fleet, make_fleet
from pydcap.sim.pki import certificate_pem, reissue, without_extension
from pydcap.trust.lru import BoundedCache
from pydcap.trust.memo import PkiMemo
from pydcap.verify import Failure
from pydcap.verify.verifier import DEFAULT_CACHE_BYTES, PLATFORM_BYTES
from tests.support.sim import AT


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return make_fleet(40)


def test_a_cache_bounded_by_bytes_drops_the_least_recently_used() -> None:
    cache: BoundedCache[str] = BoundedCache(max_bytes=100, sizeof=lambda v: 10 * len(v))
    for key in "abcd":
        cache.put(key, key.upper() * 3)
    assert cache.keys_now() == ["b", "c", "d"] and cache.nbytes == 90  # "a" made room for "d"
    assert cache.get("b") == "BBB"  # now the most recently used
    cache.put("e", "EEE")
    assert cache.keys_now() == ["d", "b", "e"]
    cache.put("d", "D")  # replacing an entry counts its new size only
    assert cache.nbytes == 70 and cache.get("d") == "D"
    cache.put("big", "X" * 50)  # larger than the whole budget: not kept, and nothing is evicted for it
    assert cache.get("big") is None and cache.nbytes == 70 and len(cache) == 3
    with pytest.raises(ValueError, match="sizeof"):
        BoundedCache(max_bytes=10)
    counted: BoundedCache[int] = BoundedCache(2)
    for i in range(5):
        counted.put(i, i)
    assert counted.keys_now() == [3, 4]


def test_a_small_budget_holds_few_platforms_and_changes_no_verdict(fleet: Fleet) -> None:
    budget = 8 * PLATFORM_BYTES + 200_000  # the five bundles and about eight platforms
    small = Verifier(trusted_root=fleet.root_pem, cache_bytes=budget)
    large = Verifier(trusted_root=fleet.root_pem)
    for attr in ("first", "again", "first"):
        for member in fleet.members:
            quote = getattr(member, attr)
            assert (
                small.verify(quote, fleet.collateral_of(member), at=fleet.at).to_dict()
                == large.verify(quote, fleet.collateral_of(member), at=fleet.at).to_dict()
            )
            assert small.cache_stats().nbytes <= budget
    assert 0 < small.cache_stats().platforms < 15
    stats = large.cache_stats()
    assert (stats.platforms, stats.max_bytes) == (len(fleet), DEFAULT_CACHE_BYTES)
    nothing = Verifier(trusted_root=fleet.root_pem, cache_bytes=0)
    member = fleet.members[0]
    assert nothing.verify(member.first, fleet.collateral_of(member), at=fleet.at).accepted
    assert nothing.cache_stats().nbytes == 0
    with pytest.raises(ValueError, match="cache_bytes"):
        Verifier(cache_bytes=-1)


def test_a_platform_costs_well_under_a_kilobyte() -> None:
    """Measured with tracemalloc once the bundles and the fleet's TCBs are known: what each new platform adds to
    the verifier, within the estimate the byte budget counts."""
    fleet = make_fleet(640)  # more platforms than the verifier keeps attestation key objects of (256)
    verifier = Verifier(trusted_root=fleet.root_pem)
    warm, rest = fleet.members[:120], fleet.members[120:]
    for member in warm:
        verifier.verify(member.first, fleet.collateral_of(member), at=fleet.at)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for member in rest:
            verifier.verify(member.first, fleet.collateral_of(member), at=fleet.at)
        gc.collect()
        per_platform = (tracemalloc.get_traced_memory()[0] - base) / len(rest)
    finally:
        tracemalloc.stop()
    assert per_platform < PLATFORM_BYTES < 1024


def test_remembered_platforms_keep_intels_order_of_failures() -> None:
    """A platform met with good collateral, then with each scenario's collateral (and the reverse): the shared
    verifier names the failure a new verifier names, for every scenario whose quote or collateral is defective."""
    intel = SimulatedIntel(seed=23)
    shared = Verifier(trusted_root=intel.trust_root)
    good = intel.sgx_platform(name="healthy")
    for name, scenario in SCENARIOS.items():
        if "sgx" not in scenario.tees or scenario.expected.failure is None:
            continue
        platform = intel.sgx_platform(scenario=name)
        quote = platform.quote(b"order")
        pairs = [(quote, intel.collateral_for(good)), (quote, intel.collateral_for(platform))]
        pairs.append((good.quote(b"order"), intel.collateral_for(platform)))
        for q, collateral in pairs:
            fresh = Verifier(trusted_root=intel.trust_root).appraise(q, collateral, at=AT)
            assert shared.appraise(q, collateral, at=AT).failure == fresh.failure, name


def test_the_memo_keeps_ca_certificates_not_pck_certificates(fleet: Fleet) -> None:
    """A quote's chain read once: its CA certificates are remembered (the next chain finds the same objects), its
    PCK certificate is not (each platform has its own; the verifier keeps a compact record instead)."""
    memo = PkiMemo()
    pem = Quote.parse(fleet.members[0].first).pck_chain_pem
    assert pem is not None
    chain = memo.read_chain(pem)
    leaf, *cas = split_pem_chain(pem)
    assert [memo.certificate(block) for block in cas] == [c for c in chain.certificates if c is not chain.topmost]
    assert memo.certificate(leaf) is not chain.topmost


def test_pinned_certificates_are_read_once_per_process(fleet: Fleet) -> None:
    """The certificates a trust root pins (the simulated root, its CAs and TCB Signing certificate) are read once
    and shared by every verifier's memo, new ones included, as are chains of nothing else and their keys; any other
    certificate, and any chain with one, is read by each memo itself."""
    pem = Quote.parse(fleet.members[0].first).pck_chain_pem
    assert pem is not None
    leaf, *cas = split_pem_chain(pem)
    signing = split_pem_chain(fleet.collateral[0].tcb_info_issuer_chain)[0]
    first, second = PkiMemo(trust=fleet.trust_root()), PkiMemo(trust=fleet.trust_root())
    for block in (*cas, signing):
        assert first.certificate(block).digest in fleet.trust_root().signed_certificates
        assert second.certificate(block) is first.certificate(block)
    assert second.certificate(leaf) is not first.certificate(leaf)
    signing_chain = fleet.collateral[0].tcb_info_issuer_chain  # pinned certificates only: shared too
    assert second.chain(signing_chain) is first.chain(signing_chain)
    assert second.chain(pem) is not first.chain(pem)  # the PCK certificate is not pinned
    signer, pck = first.certificate(signing).public_key_bytes, first.certificate(leaf).public_key_bytes
    assert second.point_key(signer) is first.point_key(signer) is not None
    assert second.point_key(pck) is not first.point_key(pck)
    other_ca = split_pem_chain(SimulatedIntel(seed=31).pck_crl_issuer_chain())[0]  # pinned by its own root only
    assert second.certificate(other_ca) is not first.certificate(other_ca)


def test_a_chain_on_known_ca_certificates_is_checked_as_a_new_one() -> None:
    """Once a verifier has checked a chain, a chain with the same CA certificates is read from its PCK certificate
    only: whatever that certificate is (another platform's, one from the other CA, one lacking an extension, one
    signed by another key), the verdict is a new verifier's."""
    intel = SimulatedIntel(seed=29)
    shared = Verifier(trusted_root=intel.trust_root)
    first = intel.sgx_platform(name="first")
    assert shared.appraise(first.quote(), intel.collateral_for(first), at=AT).failure is None
    cas = first.pck_chain_pem[first.pck_chain_pem.index(b"-----END CERTIFICATE-----") + 25 :]
    second = intel.sgx_platform(name="second")
    other_ca = intel.sgx_platform(name="multi", ca="platform")
    lacking = intel.sgx_platform(name="lacking")
    forged = certificate_pem(reissue(lacking.pck.authority.certificate, intel.impostor().pki.processor_ca.key))
    invalid_issuer, no_extension = Failure.SGX_PCK_INVALID_ISSUER, Failure.SGX_ROOT_CA_INVALID_EXTENSIONS
    cases = {  # what: (platform whose quote it is, its PCK certificate, the failure)
        "another platform's": (second, second.pck.pem, None),
        "the other CA's": (other_ca, other_ca.pck.pem, invalid_issuer),  # names
        "signed by another key": (lacking, forged, invalid_issuer),  # signature
        "without basic constraints": (
            lacking,
            without_extension(lacking.pck.authority, lacking.issuer, ExtensionOID.BASIC_CONSTRAINTS),
            no_extension,
        ),
    }
    for what, (source, leaf, failure) in cases.items():
        platform = dataclasses.replace(source, pck_chain_pem=leaf.rstrip(b"\n") + cas)
        quote = platform.quote(b"known CAs")
        collateral = intel.collateral_for(first)
        unpinned = TrustRoot.from_pem(intel.root_pem)  # the same root pinning no CA: the chain is read in full
        fresh = Verifier(trusted_root=unpinned).appraise(quote, collateral, at=AT)
        assert fresh.failure == failure, what
        assert Verifier(trusted_root=intel.trust_root).appraise(quote, collateral, at=AT).to_dict() == fresh.to_dict()
        assert shared.appraise(quote, collateral, at=AT).to_dict() == fresh.to_dict(), what


def test_a_pck_certificate_on_known_ca_certificates_is_read_in_intels_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once a verifier knows a chain's CA certificates, and a PCK certificate with the same subject has been read on
    them, the next platform's (Intel's layout) is read without the general reader, to the verdict a new verifier
    gives."""
    intel = SimulatedIntel(seed=43)
    shared = Verifier(trusted_root=intel.trust_root)
    platforms = [intel.sgx_platform(name=name) for name in ("first", "second", "third")]
    general: list[bytes] = []
    read = PckCertificate.from_pem.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(
        PckCertificate, "from_pem", classmethod(lambda cls, pem, *rest: general.append(pem) or read(cls, pem, *rest))
    )
    verdicts = [shared.appraise(p.quote(), intel.collateral_for(p), at=AT) for p in platforms[:2]]
    general.clear()  # the second's was read in full if no PCK certificate with its subject had been read before
    verdicts.append(shared.appraise(platforms[2].quote(), intel.collateral_for(platforms[2]), at=AT))
    assert not general
    monkeypatch.undo()
    for platform, verdict in zip(platforms, verdicts, strict=True):
        fresh = Verifier(trusted_root=TrustRoot.from_pem(intel.root_pem))
        assert verdict.to_dict() == fresh.appraise(platform.quote(), intel.collateral_for(platform), at=AT).to_dict()


def test_pinned_ca_certificates_once_checked_are_known_to_every_verifier_with_that_root() -> None:
    """A PCK chain's CA certificates, when its root pins both, are read in full by the first verifier only: a new
    verifier with that root key reads the next chain on them from its PCK certificate; with a root that does not
    pin them, or another root, it reads it in full."""
    intel = SimulatedIntel(seed=37)
    platform = intel.sgx_platform(name="first")
    pem = Quote.parse(platform.quote()).pck_chain_pem
    assert pem is not None
    Verifier(trusted_root=intel.trust_root).appraise(platform.quote(), intel.collateral_for(platform), at=AT)
    assert Verifier(trusted_root=intel.trust_root)._on_known_cas(pem) is not None
    unpinned = Verifier(trusted_root=TrustRoot.from_pem(intel.root_pem))
    unpinned.appraise(platform.quote(), intel.collateral_for(platform), at=AT)
    assert Verifier(trusted_root=TrustRoot.from_pem(intel.root_pem))._on_known_cas(pem) is None
    assert Verifier(trusted_root=SimulatedIntel(seed=41).trust_root)._on_known_cas(pem) is None


def test_the_pck_platform_read_for_choosing_collateral_is_the_appraisals(fleet: Fleet) -> None:
    """``pck_platform``: the FMSPC and CA type the PCK certificate names (as the collateral sources read them), read
    once for the appraisal that follows, whose verdict is a new verifier's; None for a chain under another root, a
    chain that does not check out (the appraisal names why), and no chain at all."""
    from pydcap.sources.models import CollateralRequest

    shared = Verifier(trusted_root=fleet.root_pem)
    for member in fleet.members[:10]:
        quote = Quote.parse(member.first)
        wanted = CollateralRequest.from_quote(quote)
        assert shared.pck_platform(quote) == (wanted.fmspc, wanted.ca.value)
        fresh = Verifier(trusted_root=fleet.root_pem).appraise(quote, fleet.collateral_of(member), at=fleet.at)
        assert shared.appraise(quote, fleet.collateral_of(member), at=fleet.at).to_dict() == fresh.to_dict()
    intel = SimulatedIntel(seed=31)
    verifier = Verifier(trusted_root=intel.trust_root)
    elsewhere = Quote.parse(SimulatedIntel(seed=32).sgx_platform(name="elsewhere").quote())
    assert verifier.pck_platform(elsewhere) is None
    unsigned = intel.sgx_platform(scenario="pck-issuer-mismatch")
    assert verifier.pck_platform(Quote.parse(unsigned.quote())) is None
    result = verifier.appraise(unsigned.quote(), intel.collateral_for(unsigned), at=AT)
    assert result.failure == Failure.SGX_PCK_INVALID_ISSUER
    encrypted = intel.sgx_platform(scenario="encrypted-ppid-certification")
    assert verifier.pck_platform(Quote.parse(encrypted.quote())) is None
