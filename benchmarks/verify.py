"""``make bench``: quote verifications per second, pydcap against dcap-qvl, on the real bundles, same run.

cold  a new ``Verifier`` and freshly parsed collateral for every verification (nothing reused)
warm  one ``Verifier`` and one parsed bundle, the same platform's quote verified again and again
dcap-qvl  ``QuoteCollateralV3.from_json`` + ``dcap_qvl.verify`` each time (it has no reusable state)

floor  what pydcap's cold verification would reach if everything but its signature checks were free: the
       ECDSA P-256 checks one cold verification makes (counted) at the speed ``cryptography`` verifies one
       (measured here on the bundle's own PCK certificate). It bounds the cold ratio reachable on this machine.

Ratios above 1 mean pydcap is faster. Each figure is the best of several timed rounds.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.metadata
import importlib.util
import json
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from rich.console import Console
from rich.table import Table

import pydcap

ROOT = Path(__file__).resolve().parent.parent
TESTDATA = Path(os.environ.get("PYDCAP_TESTDATA", ROOT.parent / "shared" / "testdata"))


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second: best of 5 rounds of about ``seconds / 5`` each."""
    fn()
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed > 0.02:
            break
        n *= 4
    per_round = max(1, int(n * (seconds / 5) / elapsed))
    best = 0.0
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(per_round):
            fn()
        best = max(best, per_round / (time.perf_counter() - start))
    return best


def quietly(fn: Callable[[], object]) -> Callable[[], object]:
    """dcap-qvl raises for quotes Intel rejects; the work is done either way."""

    def call() -> object:
        try:
            return fn()
        except ValueError as exc:
            return exc

    return call


def signature_checks(fn: Callable[[], object]) -> int:
    """How many ECDSA signature checks (certificates, CRLs, documents, QE report, quote) ``fn`` makes."""
    profile = cProfile.Profile()
    profile.runcall(fn)
    calls = pstats.Stats(profile).stats  # type: ignore[attr-defined]  # {(file, line, name): (cc, ncalls, ...)}
    return sum(
        row[1]
        for (_, _, name), row in calls.items()
        if ("'verify'" in name and "ECPublicKey" in name) or "is_signature_valid" in name
    )


def ecdsa_rate(quote: bytes, seconds: float) -> float:
    """ECDSA P-256 verifications per second through ``cryptography``: the PCK certificate's signature, with
    its issuer's key loaded once (the cheapest form a verifier can call)."""
    pem = pydcap.Quote.parse(quote).pck_chain_pem
    assert pem is not None
    pck, issuer = x509.load_pem_x509_certificates(pem)[:2]
    key = issuer.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    signature, tbs, algorithm = pck.signature, pck.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256())
    return rate(lambda: key.verify(signature, tbs, algorithm), seconds)


def bench_bundle(bundle: Path, seconds: float) -> dict[str, Any]:
    import dcap_qvl

    expected = json.loads((bundle / "expected.json").read_text())
    at = int(expected["verify_at"]["unix"])
    quote = (bundle / "quote.bin").read_bytes()
    qvl_json = (bundle / "collateral-dcap-qvl.json").read_text()

    def cold() -> object:
        return pydcap.Verifier().verify(quote, pydcap.Collateral.from_json(qvl_json), at=at)

    verifier = pydcap.Verifier()
    collateral = pydcap.Collateral.from_json(qvl_json)

    def warm() -> object:
        return verifier.verify(quote, collateral, at=at)

    def qvl() -> object:
        return dcap_qvl.verify(quote, dcap_qvl.QuoteCollateralV3.from_json(qvl_json), at)

    result = verifier.verify(quote, collateral, at=at)
    qvl_outcome = quietly(qvl)()
    # dcap-qvl cannot read some real collateral (TCB info v2): it then fails before doing the work, and
    # its speed on that bundle says nothing. Debug quotes are rejected by its built-in policy at the end.
    comparable = (
        not isinstance(qvl_outcome, ValueError) or result.failure is not None or "Debug mode" in str(qvl_outcome)
    )
    return {
        "comparable": comparable,
        "dcap_qvl_error": str(qvl_outcome).splitlines()[0] if isinstance(qvl_outcome, ValueError) else None,
        "bundle": bundle.name,
        "verdict": result.failure.value if result.failure else result.tcb_status.value if result.tcb_status else "",
        "pydcap_cold": rate(cold, seconds),
        "pydcap_warm": rate(warm, seconds),
        "dcap_qvl": rate(quietly(qvl), seconds),
        "signature_checks": (checks := signature_checks(cold)),
        "pydcap_floor": ecdsa_rate(quote, seconds) / checks,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement (default 1)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    console = Console(width=None if sys.stdout.isatty() else 160)
    if importlib.util.find_spec("dcap_qvl") is None:
        console.print("dcap-qvl is not installed (pip install -e '.[bench]'): nothing to compare against")
        return 2
    bundles = sorted(p for p in (TESTDATA / "real").glob("*") if (p / "collateral-dcap-qvl.json").is_file())
    if not bundles:
        console.print(
            f"SKIPPED: verifications per second need the shared test data (real Intel quotes, ../shared/testdata "
            f"or $PYDCAP_TESTDATA); none with dcap-qvl collateral under {TESTDATA}"
        )
        return 0
    rows = [bench_bundle(b, args.seconds) for b in bundles]
    same_work = [r for r in rows if r["comparable"]]
    cold_ratio = statistics.geometric_mean(r["pydcap_cold"] / r["dcap_qvl"] for r in same_work)
    warm_ratio = statistics.geometric_mean(r["pydcap_warm"] / r["dcap_qvl"] for r in same_work)
    floor_ratio = statistics.geometric_mean(r["pydcap_floor"] / r["dcap_qvl"] for r in same_work)
    if args.json:
        summary = {"cold_ratio": cold_ratio, "warm_ratio": warm_ratio, "floor_ratio": floor_ratio}
        json.dump({"rows": rows, **summary}, sys.stdout, indent=2)
        print()
        return 0
    versions = f"pydcap {pydcap.__version__}, dcap-qvl {importlib.metadata.version('dcap-qvl')}"
    table = Table(title=f"Quote verifications per second ({versions})")
    columns = ("bundle", "Intel verdict", "dcap-qvl", "pydcap cold", "cold ratio", "pydcap warm", "warm ratio")
    for col in (*columns, "signature checks", "floor", "floor ratio"):
        table.add_column(col, justify="left" if col in ("bundle", "Intel verdict") else "right")
    for r in rows:
        ratio = (lambda x: f"{x:.2f}x") if r["comparable"] else (lambda x: "n/a")
        table.add_row(
            r["bundle"],
            r["verdict"],
            f"{r['dcap_qvl']:,.0f}" if r["comparable"] else "cannot verify",
            f"{r['pydcap_cold']:,.0f}",
            ratio(r["pydcap_cold"] / r["dcap_qvl"]),
            f"{r['pydcap_warm']:,.0f}",
            ratio(r["pydcap_warm"] / r["dcap_qvl"]),
            str(r["signature_checks"]),
            f"{r['pydcap_floor']:,.0f}",
            ratio(r["pydcap_floor"] / r["dcap_qvl"]),
        )
    console.print(table)
    for r in rows:
        if not r["comparable"]:
            console.print(f"  {r['bundle']}: excluded, dcap-qvl fails early: {r['dcap_qvl_error']}")
    console.print(
        f"geometric mean vs dcap-qvl over {len(same_work)} bundles: "
        f"cold {cold_ratio:.2f}x (goal >= 1), warm {warm_ratio:.2f}x (goal >= 5); "
        f"signature floor {floor_ratio:.2f}x (the most cold could reach here if all else cost nothing)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
