"""Hello world, host side: start an enclave with DCAP attestation and serve its instance info over HTTP.

    python examples/hello_world/host.py [--port 8090]

On a machine without SGX/TDX it simulates the enclave and also runs a simulated Intel on loopback (the
quote provider fetches collateral from it); on real hardware the installed quote provider is used.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pydcap.host import AttestationParameters, EnclaveHost
from pydcap.platform import detect

ENCLAVE_NAME = "pydcap.examples.HelloWorld"


def simulated_host(stack: ExitStack) -> EnclaveHost:
    """A simulated enclave, with a simulated Intel serving its collateral (nothing leaves this machine).
    The simulated Intel and the working directory last as long as ``stack``."""
    from pydcap.sim import SimulatedIntel, default_seed
    from pydcap.sim.enclave import SimulatedEnclave, SimulatedQuoteSource
    from pydcap.sim.server import SimulatedPcs

    intel = SimulatedIntel(seed=default_seed())  # $PYDCAP_SIM_SEED, else 0: the client trusts the same
    pcs = stack.enter_context(SimulatedPcs(intel))
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pydcap-hello-")))
    (workdir / "sim-root.pem").write_bytes(intel.root_pem)
    os.environ.update(
        PYDCAP_COLLATERAL_SERVICE="pcs",
        PYDCAP_COLLATERAL_URL=pcs.url,
        PYDCAP_TRUSTED_ROOT=str(workdir / "sim-root.pem"),
        PYDCAP_CACHE=str(workdir / "collateral.db"),
    )
    enclave = SimulatedEnclave(name=ENCLAVE_NAME, signer="pydcap examples", product_id=1, svn=1)
    return EnclaveHost(SimulatedQuoteSource(intel.sgx_platform(), enclave))


def main() -> int:
    parser = argparse.ArgumentParser(description="Serve a DCAP-attested enclave's instance info")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()

    found = detect()
    print(found.message, file=sys.stderr)
    with ExitStack() as stack:
        host = simulated_host(stack) if found.simulated else EnclaveHost(found.source)
        info = host.start(AttestationParameters.DCAP(), report_data=b"hello world")
        print(f"enclave started: {info.tee}, measurement {info.measurement.hex()}", file=sys.stderr)
        if info.signer is not None:
            print(f"signer {info.signer.hex()}", file=sys.stderr)
        payload = info.serialize()

        async def instance_info(_: Request) -> Response:
            return Response(payload, media_type="application/json")

        app = Starlette(routes=[Route("/instance-info", instance_info)])
        print(f"serving http://{args.host}:{args.port}/instance-info", file=sys.stderr, flush=True)
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
