"""Moved: the chain and CRL checks live in ``pydcap.trust.chains`` (edit them there), and ``CheckFailed`` is
``pydcap.trust.Refused``. This module re-exports them for code written before the move, and goes away once nothing
imports it."""

from pydcap.trust.chains import (
    INTERMEDIATE_CN,
    PCK_CN,
    ROOT_CN,
    TCB_SIGNING_CN,
    PckChain,
    SigningChain,
    check_crl,
    check_pck_certificates,
    check_pck_chain,
    check_pck_crls,
    check_root_certificate,
    check_signing_chain,
    extension_failure,
    parse_chain,
    parse_crl,
    read_chain,
    trusted_pck_chain,
)
from pydcap.trust.errors import Refused as CheckFailed

__all__ = [
    "INTERMEDIATE_CN",
    "PCK_CN",
    "ROOT_CN",
    "TCB_SIGNING_CN",
    "CheckFailed",
    "PckChain",
    "SigningChain",
    "check_crl",
    "check_pck_certificates",
    "check_pck_chain",
    "check_pck_crls",
    "check_root_certificate",
    "check_signing_chain",
    "extension_failure",
    "parse_chain",
    "parse_crl",
    "read_chain",
    "trusted_pck_chain",
]
