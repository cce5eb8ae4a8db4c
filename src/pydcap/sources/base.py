"""The interface every collateral source implements, whatever service stands behind it.

The cache asks a ``CollateralSource`` for one document at a time and verifies what it gets; a source only
speaks its service's protocol and never decides whether to trust an answer.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydcap.intel import PckCa, PlatformId, Tee, Update
from pydcap.sources.models import Fetched


@runtime_checkable
class CollateralSource(Protocol):
    """An upstream of collateral: Intel PCS, a PCCS, Azure's cache, or anything speaking like them."""

    @property
    def description(self) -> str:
        """Who answers, for messages: ``"Intel PCS at https://..."``."""
        ...

    async def root_ca_crl(self) -> Fetched:
        """The Intel SGX Root CA CRL (DER; no issuer chain)."""
        ...

    async def pck_crl(self, ca: PckCa) -> Fetched:
        """The CRL of the PCK Processor or Platform CA (DER) and its issuer chain."""
        ...

    async def tcb_info(self, tee: Tee, fmspc: bytes, update: Update = Update.STANDARD) -> Fetched:
        """The signed TCB info of one FMSPC, exactly as served, and its issuer chain."""
        ...

    async def qe_identity(self, tee: Tee, update: Update = Update.STANDARD) -> Fetched:
        """The signed identity of the QE (SGX) or TD QE (TDX), exactly as served, and its issuer chain."""
        ...

    async def qve_identity(self, update: Update = Update.STANDARD) -> Fetched:
        """The signed identity of the quote verification enclave."""
        ...

    async def pck_certificate(self, platform: PlatformId) -> Fetched:
        """The PCK certificate (PEM leaf) the service selects for this platform's raw TCB, its issuer chain
        and, in ``meta``, ``tcbm``, ``fmspc`` and ``ca_type`` when the service says them."""
        ...

    async def aclose(self) -> None:
        """Release connections opened for the running event loop."""
        ...
