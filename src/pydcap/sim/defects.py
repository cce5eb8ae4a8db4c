"""Named ways a simulated platform or its collateral can be wrong, for scenarios and negative tests.

A ``QuoteDefect`` changes how a platform builds its quotes; a ``CollateralDefect`` changes what
``SimulatedIntel.collateral_for`` returns; a ``Revocation`` changes the simulated Intel's CRLs.
"""

from __future__ import annotations

import enum


class QuoteDefect(enum.Enum):
    QE_REPORT_SIGNED_BY_WRONG_KEY = "qe-report-signed-by-wrong-key"
    QE_REPORT_DATA_UNBOUND = "qe-report-data-unbound"
    QUOTE_SIGNED_BY_WRONG_KEY = "quote-signed-by-wrong-key"
    CHAIN_TRUNCATED = "chain-truncated"
    CHAIN_WITHOUT_ROOT = "chain-without-root"
    CHAIN_WITHOUT_INTERMEDIATE = "chain-without-intermediate"
    CHAIN_WITHOUT_PCK = "chain-without-pck"
    CHAIN_WITH_OTHER_CA = "chain-with-other-ca"
    FORGED_ROOT = "forged-root"
    FORGED_INTERMEDIATE = "forged-intermediate"
    PCK_WITHOUT_SGX_EXTENSION = "pck-without-sgx-extension"
    PCK_WITHOUT_BASIC_CONSTRAINTS = "pck-without-basic-constraints"
    INTERMEDIATE_WITHOUT_SUBJECT_KEY_IDENTIFIER = "intermediate-without-subject-key-identifier"
    ROOT_WITHOUT_AUTHORITY_KEY_IDENTIFIER = "root-without-authority-key-identifier"
    EXPIRED_PCK_CERTIFICATE = "expired-pck-certificate"
    ENCRYPTED_PPID_CERTIFICATION = "encrypted-ppid-certification"
    FOREIGN_QE_VENDOR = "foreign-qe-vendor"


class CollateralDefect(enum.Enum):
    PCK_CRL_FROM_OTHER_CA = "pck-crl-from-other-ca"
    PCK_CRL_WITHOUT_EXTENSIONS = "pck-crl-without-extensions"
    PCK_CRL_WITHOUT_AKI = "pck-crl-without-aki"
    PCK_CRL_FORGED = "pck-crl-forged"
    PCK_CRL_UNREADABLE = "pck-crl-unreadable"
    PCK_CRL_EXPIRED = "pck-crl-expired"
    PCK_CRL_NOT_YET_VALID = "pck-crl-not-yet-valid"
    ROOT_CA_CRL_EXPIRED = "root-ca-crl-expired"
    TCB_INFO_VERSION_2 = "tcb-info-version-2"
    TCB_INFO_UNSUPPORTED_VERSION = "tcb-info-unsupported-version"
    TCB_INFO_MISSING_FIELD = "tcb-info-missing-field"
    TCB_INFO_DUPLICATE_LEVELS = "tcb-info-duplicate-levels"
    TCB_INFO_FORGED = "tcb-info-forged"
    TCB_INFO_CHAIN_WITHOUT_SIGNER = "tcb-info-chain-without-signer"
    TCB_INFO_EXPIRED = "tcb-info-expired"
    TCB_INFO_OTHER_FMSPC = "tcb-info-other-fmspc"
    TCB_INFO_OTHER_PCE_ID = "tcb-info-other-pce-id"
    TCB_INFO_OTHER_TEE = "tcb-info-other-tee"
    TCB_SIGNING_CERT_FORGED = "tcb-signing-cert-forged"
    TCB_SIGNING_CERT_RETIRED = "tcb-signing-cert-retired"
    TCB_SIGNING_CERT_EXPIRED = "tcb-signing-cert-expired"
    TCB_SIGNING_CERT_WITHOUT_KEY_USAGE = "tcb-signing-cert-without-key-usage"
    QE_IDENTITY_CHAIN_ROOT_WITHOUT_CRL_DISTRIBUTION_POINTS = "qe-identity-chain-root-without-crl-distribution-points"
    QE_IDENTITY_MISSING_FIELD = "qe-identity-missing-field"
    QE_IDENTITY_LEVEL_MISSING_FIELD = "qe-identity-level-missing-field"
    QE_IDENTITY_INVALID_STATUS = "qe-identity-invalid-status"
    QE_IDENTITY_VERSION_3 = "qe-identity-version-3"
    QE_IDENTITY_FORGED = "qe-identity-forged"
    QE_IDENTITY_OTHER_ENCLAVE = "qe-identity-other-enclave"
    QE_IDENTITY_EXPIRED = "qe-identity-expired"


class Revocation(enum.Enum):
    """What a scenario revokes when its platform is created."""

    PCK = "pck"
    INTERMEDIATE_CA = "intermediate-ca"
    TCB_SIGNING_CERT = "tcb-signing-cert"
