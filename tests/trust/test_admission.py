"""The authenticity decision on the simulated Intel's documents: what admission returns (freshness, issue order,
facts), ``Refused`` with Intel's name for what is not authentic, the rollback order as integers, the root by key."""

from __future__ import annotations

import pytest

from pydcap.intel import EntryKey, Failure, PckCa, Tee
from pydcap.pki import CertificateChain, TrustRoot
from pydcap.sim import REFERENCE_TIME, SimulatedIntel
from pydcap.trust import IssueOrder, PkiMemo, Refused, admit, older, pck_chain_leaf, require_root_key

INTEL = SimulatedIntel(seed=7, now=REFERENCE_TIME)
OTHER = SimulatedIntel(seed=8, now=REFERENCE_TIME)
ROOT = INTEL.trust_root
PLATFORM = INTEL.sgx_platform(name="trust-test")


def test_documents_are_admitted_with_their_issue_order() -> None:
    root_crl = INTEL.root_ca_crl()
    memo = PkiMemo()
    crl = admit(EntryKey.root_ca_crl(), root_crl, b"", ROOT, memo=memo)
    assert crl.order is not None and crl.order.number >= 1
    newer, older_number = INTEL.catalog.numbers[0], INTEL.catalog.numbers[-1]
    key = EntryKey.tcb_info(Tee.SGX, PLATFORM.fmspc)
    current = admit(key, INTEL.tcb_info(PLATFORM.fmspc, evaluation=newer), INTEL.signing_chain, ROOT,
                    root_ca_crl=root_crl, memo=memo)  # fmt: skip
    replayed = admit(key, INTEL.tcb_info(PLATFORM.fmspc, evaluation=older_number), INTEL.signing_chain, ROOT,
                     root_ca_crl=root_crl, memo=memo)  # fmt: skip
    assert current.order is not None and replayed.order is not None
    assert (current.order.number, replayed.order.number) == (newer, older_number) and replayed.order < current.order
    reason = older(current.order, replayed.order)
    assert reason is not None and f"issue {older_number} of " in reason
    assert older(replayed.order, current.order) is None and older(None, replayed.order) is None


def test_the_issue_date_orders_documents_of_one_number() -> None:
    assert IssueOrder(3, 100) < IssueOrder(3, 200) < IssueOrder(4, 0)
    assert str(IssueOrder(17, 0)) == "issue 17 of 1970-01-01T00:00:00Z"


def test_a_pck_certificate_is_admitted_with_the_tcb_it_certifies() -> None:
    leaf = PLATFORM.pck_certificate_pem
    ca = PckCa(PLATFORM.ca)
    admission = admit(
        EntryKey.pck_certificate(PLATFORM.platform_id),
        leaf,
        INTEL.pck_crl_issuer_chain(PLATFORM.ca),
        ROOT,
        root_ca_crl=INTEL.root_ca_crl(),
        pck_crl=INTEL.pck_crl(ca.value),
        meta={"tcbm": PLATFORM.pck.tcbm, "fmspc": PLATFORM.fmspc.hex()},
    )
    assert admission.order is None and admission.meta["tcbm"] == PLATFORM.pck.tcbm.lower()
    with pytest.raises(Refused) as refused:
        admit(
            EntryKey.pck_certificate(PLATFORM.platform_id),
            leaf,
            INTEL.pck_crl_issuer_chain(PLATFORM.ca),
            ROOT,
            root_ca_crl=INTEL.root_ca_crl(),
            pck_crl=INTEL.pck_crl(ca.value),
            meta={"tcbm": "00" * 18},
        )
    assert refused.value.failure is Failure.PCK_CERT_MISMATCH and "SGX-TCBm" in refused.value.detail


def test_what_is_not_authentic_is_refused_with_intels_name() -> None:
    with pytest.raises(Refused) as under_other_root:
        admit(EntryKey.root_ca_crl(), INTEL.root_ca_crl(), b"", OTHER.trust_root)
    assert under_other_root.value.failure is Failure.SGX_CRL_INVALID_SIGNATURE
    with pytest.raises(Refused) as unreadable:
        admit(EntryKey.root_ca_crl(), b"not a CRL", b"", ROOT)
    assert unreadable.value.failure is Failure.SGX_CRL_UNSUPPORTED_FORMAT
    with pytest.raises(Refused) as chain:
        admit(EntryKey.tcb_info(Tee.SGX, PLATFORM.fmspc), INTEL.tcb_info(PLATFORM.fmspc), OTHER.signing_chain, ROOT,
              root_ca_crl=INTEL.root_ca_crl())  # fmt: skip
    assert chain.value.failure is not None


def test_the_root_is_pinned_by_key() -> None:
    root = CertificateChain.parse(INTEL.signing_chain).root
    assert root is not None
    require_root_key(root, ROOT, Failure.SGX_ROOT_CA_UNTRUSTED, "the chain")
    with pytest.raises(Refused, match=r"the chain does not end in the trusted root") as refused:
        require_root_key(root, OTHER.trust_root, Failure.SGX_ROOT_CA_UNTRUSTED, "the chain")
    assert refused.value.failure is Failure.SGX_ROOT_CA_UNTRUSTED
    assert TrustRoot.intel().public_key != ROOT.public_key


def test_a_pck_chain_without_crls_is_checked_up_to_the_root() -> None:
    chain = PLATFORM.pck_certificate_pem + INTEL.pck_crl_issuer_chain(PLATFORM.ca)
    assert pck_chain_leaf(chain, ROOT).fmspc == PLATFORM.fmspc
    with pytest.raises(Refused) as refused:
        pck_chain_leaf(chain, OTHER.trust_root)
    assert refused.value.failure is Failure.SGX_PCK_CERT_CHAIN_UNTRUSTED
