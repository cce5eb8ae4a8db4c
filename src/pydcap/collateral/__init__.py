"""Verification collateral: TCB info, enclave identities, CRLs and chains, and bundles of them."""

from pydcap.collateral.bundle import Collateral
from pydcap.collateral.enclave_identity import EnclaveIdentity, IdentityTcbLevel
from pydcap.collateral.signed import SignedDocument
from pydcap.collateral.tcb_info import ModuleTcbLevel, TcbInfo, TcbLevel, TdxModule, TdxModuleIdentity

__all__ = [
    "Collateral",
    "EnclaveIdentity",
    "IdentityTcbLevel",
    "ModuleTcbLevel",
    "SignedDocument",
    "TcbInfo",
    "TcbLevel",
    "TdxModule",
    "TdxModuleIdentity",
]
