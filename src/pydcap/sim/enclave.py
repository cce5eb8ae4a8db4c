"""Simulated enclaves and TDs: a named enclave on a simulated platform, producing quotes on demand.

It implements the quote-source interface of ``pydcap.platform``, so the host API uses it exactly as it
uses Gramine or configfs-tsm. Its measurements derive from its name and signer, like a build would.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from pydcap.sim.intel import SimulatedIntel
from pydcap.sim.platform import SimulatedSgxPlatform, SimulatedTdxPlatform
from pydcap.sim.seed import default_seed


@dataclass(frozen=True)
class SimulatedEnclave:
    """The identity a simulated enclave (or TD) reports: MRENCLAVE/MRTD from ``name``, MRSIGNER from ``signer``."""

    name: str = "pydcap.hello-world"
    signer: str = "pydcap example signer"
    product_id: int = 1
    svn: int = 1
    debug: bool = False

    @property
    def mr_enclave(self) -> bytes:
        return hashlib.sha256(b"pydcap simulated enclave\x00" + self.name.encode()).digest()

    @property
    def mr_signer(self) -> bytes:
        return hashlib.sha256(b"pydcap simulated signer\x00" + self.signer.encode()).digest()

    @property
    def mr_td(self) -> bytes:
        return hashlib.sha384(b"pydcap simulated TD\x00" + self.name.encode()).digest()


@dataclass
class SimulatedQuoteSource:
    """A quote source backed by a simulated SGX platform (an enclave) or TDX platform (a TD)."""

    platform: SimulatedSgxPlatform | SimulatedTdxPlatform
    enclave: SimulatedEnclave = field(default_factory=SimulatedEnclave)
    name: str = "simulated"

    @property
    def tee(self) -> str:
        return "TDX" if isinstance(self.platform, SimulatedTdxPlatform) else "SGX"

    @property
    def description(self) -> str:
        """For messages: ``simulated platform (seed 0)``."""
        return f"simulated platform (seed {self.platform.intel.seed})"

    def get_quote(self, report_data: bytes) -> bytes:
        e = self.enclave
        if isinstance(self.platform, SimulatedTdxPlatform):
            return self.platform.quote(report_data, mr_td=e.mr_td, debug=e.debug)
        return self.platform.quote(
            report_data,
            mr_enclave=e.mr_enclave,
            mr_signer=e.mr_signer,
            isv_prod_id=e.product_id,
            isv_svn=e.svn,
            debug=e.debug,
        )


def simulated_fallback() -> SimulatedQuoteSource:
    """What the host API is handed to use when no SGX or TDX hardware is found (``EnclaveHost(fallback=...)``): an
    SGX enclave on a platform of the simulated Intel of ``$PYDCAP_SIM_SEED`` (default 0, as ``pydcap sim serve``).
    ``ValueError`` when that variable is not a number."""
    return SimulatedQuoteSource(SimulatedIntel(seed=default_seed()).sgx_platform())
