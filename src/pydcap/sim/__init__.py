"""A simulated Intel for tests, demos and development without hardware: a test PKI with Intel's certificate
profile, signed TCB info and identity documents, SGX and TDX platforms that sign quotes, named scenarios,
and (in ``pydcap.sim.server``) a PCS-compatible HTTP server; ``SimulatedSource`` serves the same in memory, a
collateral source for unit tests. Nothing it signs is trusted unless its root is passed to the verifier
explicitly::

    intel = SimulatedIntel(seed=1)  # or SimulatedIntel(default_seed()): the world `pydcap sim serve` simulates
    quote = intel.sgx_platform().quote(report_data=b"hello")
    result = Verifier(trusted_root=intel.trust_root).verify(quote, intel.collateral_for(quote))
"""

from pydcap.intel import PlatformId
from pydcap.sim.catalog import Catalog, EnclaveIdentitySpec, FmspcEntry, FmspcTcb, IdentityLevelSpec, TcbLevelSpec
from pydcap.sim.defects import CollateralDefect, QuoteDefect, Revocation
from pydcap.sim.intel import REFERENCE_TIME, SimulatedIntel
from pydcap.sim.platform import SimulatedPlatform, SimulatedSgxPlatform, SimulatedTdxPlatform
from pydcap.sim.scenarios import SCENARIOS, Expectation, Scenario
from pydcap.sim.seed import DEFAULT_SEED, SEED_ENV, default_seed
from pydcap.sim.source import SimulatedSource

__all__ = [
    "DEFAULT_SEED",
    "REFERENCE_TIME",
    "SCENARIOS",
    "SEED_ENV",
    "Catalog",
    "CollateralDefect",
    "EnclaveIdentitySpec",
    "Expectation",
    "FmspcEntry",
    "FmspcTcb",
    "IdentityLevelSpec",
    "PlatformId",
    "QuoteDefect",
    "Revocation",
    "Scenario",
    "SimulatedIntel",
    "SimulatedPlatform",
    "SimulatedSgxPlatform",
    "SimulatedSource",
    "SimulatedTdxPlatform",
    "TcbLevelSpec",
    "default_seed",
]
