"""Certificate chains as Intel's chain parser reads them: a certificate lacking a required X.509 extension is
named by its position alone, and that is decided before the chain's length, names or signatures are checked."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.x509.oid import ExtensionOID

from pydcap import Verifier
from pydcap.sim import REFERENCE_TIME, SimulatedIntel
from pydcap.sim.pki import Authority, without_extension
from pydcap.trust.chains import extension_failure
from pydcap.verify import Failure

AT = int(REFERENCE_TIME.timestamp()) + 3600
NO_SKI = ExtensionOID.SUBJECT_KEY_IDENTIFIER


@pytest.fixture(scope="module")
def intel() -> SimulatedIntel:
    return SimulatedIntel(seed=19, now=REFERENCE_TIME)


@pytest.mark.parametrize(
    ("position", "length", "failure"),
    [
        (0, 1, Failure.SGX_ROOT_CA_INVALID_EXTENSIONS),
        (0, 3, Failure.SGX_ROOT_CA_INVALID_EXTENSIONS),
        (1, 2, Failure.SGX_TCB_SIGNING_CERT_INVALID_EXTENSIONS),
        (1, 3, Failure.SGX_INTERMEDIATE_CA_INVALID_EXTENSIONS),
        (1, 4, Failure.SGX_INTERMEDIATE_CA_INVALID_EXTENSIONS),
        (2, 3, Failure.SGX_PCK_INVALID_EXTENSIONS),
        (3, 4, Failure.SGX_PCK_INVALID_EXTENSIONS),
    ],
)
def test_intels_position_heuristic(position: int, length: int, failure: Failure) -> None:
    assert extension_failure(position, length) == failure


def _quote_chain_result(intel: SimulatedIntel, pem: bytes) -> Failure | None:
    platform = intel.sgx_platform()
    odd = dataclasses.replace(platform, pck_chain_pem=pem)
    result = Verifier(trusted_root=intel.trust_root).verify(odd.quote(b"chain"), intel.collateral_for(platform), at=AT)
    return result.failure


def test_extensions_are_checked_before_the_chain_length(intel: SimulatedIntel) -> None:
    """A two-certificate quote chain whose CA lacks an extension: Intel's parser, which runs before the length
    check, takes the second of two for the TCB Signing certificate."""
    platform = intel.sgx_platform()
    pem = platform.pck.authority.pem + without_extension(platform.issuer, intel.pki.root, NO_SKI)
    assert _quote_chain_result(intel, pem) == Failure.SGX_TCB_SIGNING_CERT_INVALID_EXTENSIONS


def test_extensions_are_checked_before_signatures(intel: SimulatedIntel) -> None:
    """A CA certificate both lacking an extension and signed by another root: the extension decides."""
    platform = intel.sgx_platform()
    rogue_root: Authority = intel.impostor().pki.root
    forged = without_extension(platform.issuer, rogue_root, NO_SKI)
    pem = platform.pck.authority.pem + forged + intel.pki.root.pem
    assert _quote_chain_result(intel, pem) == Failure.SGX_INTERMEDIATE_CA_INVALID_EXTENSIONS


def test_the_chain_order_decides_the_name(intel: SimulatedIntel) -> None:
    """The same defective CA certificate, first in the chain: Intel then reports the root."""
    platform = intel.sgx_platform()
    pem = without_extension(platform.issuer, intel.pki.root, NO_SKI) + platform.pck.authority.pem + intel.pki.root.pem
    assert _quote_chain_result(intel, pem) == Failure.SGX_ROOT_CA_INVALID_EXTENSIONS


@pytest.mark.parametrize(
    ("defective", "failure"),
    [("ca", Failure.SGX_ROOT_CA_INVALID_EXTENSIONS), ("root", Failure.SGX_TCB_SIGNING_CERT_INVALID_EXTENSIONS)],
)
def test_the_pck_crl_issuer_chain_is_parsed_the_same_way(
    intel: SimulatedIntel, defective: str, failure: Failure
) -> None:
    platform = intel.sgx_platform()
    collateral = intel.collateral_for(platform)
    ca, root = platform.issuer, intel.pki.root
    if defective == "ca":
        chain = without_extension(ca, root, NO_SKI) + root.pem
    else:
        chain = ca.pem + without_extension(root, root, ExtensionOID.KEY_USAGE)
    odd = dataclasses.replace(collateral, pck_crl_issuer_chain=chain)
    result = Verifier(trusted_root=intel.trust_root).verify(platform.quote(b"chain"), odd, at=AT)
    assert result.failure == failure, result.detail
