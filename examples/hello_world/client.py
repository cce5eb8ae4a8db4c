"""Hello world, client side: fetch an enclave's instance info, verify it against a constraint, print the verdict.

    python examples/hello_world/client.py [URL] [--constraint "S:<mrsigner> PROD:1 SEC:INSECURE"]

A simulated enclave is only ever INSECURE (its quote is signed by a simulated Intel), so the default
constraint asks for SEC:INSECURE; with real hardware use SEC:STALE or SEC:SECURE and Intel's root.
"""

from __future__ import annotations

import argparse
import hashlib
import sys

import httpx

from pydcap.host import EnclaveInstanceInfo, verify

SIGNER = hashlib.sha256(b"pydcap simulated signer\x00" + b"pydcap examples").hexdigest()
DEFAULT_CONSTRAINT = f"S:{SIGNER} PROD:1 SEC:INSECURE"


def main() -> int:
    parser = argparse.ArgumentParser(description="Verify a DCAP-attested enclave")
    parser.add_argument("url", nargs="?", default="http://127.0.0.1:8090/instance-info")
    parser.add_argument("--constraint", default=DEFAULT_CONSTRAINT)
    parser.add_argument(
        "--simulated-intel-seed",
        type=int,
        help="trust the simulated Intel of this seed (default: $PYDCAP_SIM_SEED, else 0, as the host simulates)",
    )
    parser.add_argument("--intel-root", action="store_true", help="trust only Intel's real root")
    args = parser.parse_args()

    info = EnclaveInstanceInfo.deserialize(httpx.get(args.url, timeout=10).raise_for_status().content)
    root = None
    if info.simulated and not args.intel_root:
        from pydcap.sim import SimulatedIntel, default_seed

        seed = default_seed() if args.simulated_intel_seed is None else args.simulated_intel_seed
        root = SimulatedIntel(seed=seed).root_pem
        print(f"note: the enclave is simulated; trusting the simulated Intel of seed {seed}")
    result = verify(info, args.constraint, trusted_root=root)
    print(f"enclave {info.tee} {info.measurement.hex()} ({info.platform}, collateral via {info.provider})")
    print(f"constraint: {args.constraint}")
    if result.accepted:
        print("ACCEPTED: the enclave satisfies the constraint")
        return 0
    print("REJECTED:")
    for reason in result.reasons:
        print(f"  - {reason}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
