"""``make bench``: quote verifications per second, pydcap against dcap-qvl, on the real bundles, same run.

cold  a new ``Verifier`` and freshly parsed collateral for every verification (nothing reused)
warm  one ``Verifier`` and one parsed bundle, the same platform's quote verified again and again
dcap-qvl  ``QuoteCollateralV3.from_json`` + ``dcap_qvl.verify`` each time (it has no reusable state)

floor  what pydcap's cold verification would reach if everything but its signature checks were free: the
       ECDSA P-256 checks one cold verification makes and the key objects it makes for them (counted), at the
       speed ``cryptography`` verifies one (measured here on the bundle's own PCK certificate) and makes one from
       a point. It bounds the cold ratio reachable on this machine.

When the native accelerator is built (``make native``), "pydcap native" is measured too, alternated with the
others (the accelerator switched on before each of its chunks and off before the others').

Ratios above 1 mean pydcap is faster. Every figure is CPU time, pydcap and dcap-qvl alternated in short chunks,
over several rounds: medians, with the range over rounds in parentheses (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from measure import NATIVE, Spread, accelerator, alternated, ecdsa_rate, ecdsa_work, key_rate
from rich.console import Console
from rich.table import Table

import pydcap

ROOT = Path(__file__).resolve().parent.parent
TESTDATA = Path(os.environ.get("PYDCAP_TESTDATA", ROOT.parent / "shared" / "testdata"))


def quietly(fn: Callable[[], object]) -> Callable[[], object]:
    """dcap-qvl raises for quotes Intel rejects; the work is done either way."""

    def call() -> object:
        try:
            return fn()
        except ValueError as exc:
            return exc

    return call


def per_second(contenders: dict[str, Callable[[], object]], count: int, chunk: int, rounds: int) -> dict[str, Spread]:
    """Calls per CPU second of each contender: ``count`` calls per round, alternated in chunks, over ``rounds``."""
    calls = {name: (lambda _, fn=fn: fn()) for name, fn in contenders.items()}
    runs = [alternated(calls, range(count), chunk) for _ in range(rounds)]
    return {name: Spread(tuple(count / max(r[name], 1e-9) for r in runs)) for name in contenders}


def bench_bundle(bundle: Path, rounds: int, modes: tuple[str, ...], one_key: float) -> dict[str, Any]:
    """Each pydcap mode (``modes``: "pydcap", and ``NATIVE`` when the accelerator is built) against dcap-qvl;
    ``one_key``: key objects per second (``key_rate``), for the floor."""
    import dcap_qvl

    expected = json.loads((bundle / "expected.json").read_text())
    at = int(expected["verify_at"]["unix"])
    quote = (bundle / "quote.bin").read_bytes()
    qvl_json = (bundle / "collateral-dcap-qvl.json").read_text()
    pem = pydcap.Quote.parse(quote).pck_chain_pem
    assert pem is not None

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
    cold_runs = per_second(dict.fromkeys(modes, cold) | {"dcap-qvl": quietly(qvl)}, 150, 10, rounds)
    warm_runs = per_second(dict.fromkeys(modes, warm) | {"dcap-qvl": quietly(qvl)}, 600, 50, rounds)
    work = ecdsa_work(cold)
    accelerated = (
        {
            "cold_ratio_native": cold_runs[NATIVE] / cold_runs["dcap-qvl"],
            "warm_ratio_native": warm_runs[NATIVE] / warm_runs["dcap-qvl"],
        }
        if NATIVE in modes
        else {}
    )
    return accelerated | {
        "comparable": comparable,
        "dcap_qvl_error": str(qvl_outcome).splitlines()[0] if isinstance(qvl_outcome, ValueError) else None,
        "bundle": bundle.name,
        "verdict": result.failure.value if result.failure else result.tcb_status.value if result.tcb_status else "",
        "pydcap_cold": cold_runs["pydcap"].median,
        "pydcap_warm": warm_runs["pydcap"].median,
        "dcap_qvl": cold_runs["dcap-qvl"].median,
        "cold_ratio": cold_runs["pydcap"] / cold_runs["dcap-qvl"],
        "warm_ratio": warm_runs["pydcap"] / warm_runs["dcap-qvl"],
        "signature_checks": work.checks,
        "key_objects": work.keys,
        "pydcap_floor": work.floor(ecdsa_rate(pem), one_key),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per measurement (default 3)")
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
    modes = ("pydcap", NATIVE) if accelerator() else ("pydcap",)
    one_key = key_rate()  # the same for every bundle, unlike a check (timed on each bundle's own certificate)
    rows = [bench_bundle(b, args.rounds, modes, one_key) for b in bundles]
    same_work = [r for r in rows if r["comparable"]]

    def mean_over_bundles(key: str) -> Spread:
        """The geometric mean over the comparable bundles, round by round."""
        return Spread(tuple(statistics.geometric_mean(r[key].values[i] for r in same_work) for i in range(args.rounds)))

    cold_ratio, warm_ratio = mean_over_bundles("cold_ratio"), mean_over_bundles("warm_ratio")
    floor_ratio = statistics.geometric_mean(r["pydcap_floor"] / r["dcap_qvl"] for r in same_work)
    with_native = NATIVE in modes
    if args.json:
        out = [{k: v.to_dict() if isinstance(v, Spread) else v for k, v in r.items()} for r in rows]
        summary = {"cold_ratio": cold_ratio.to_dict(), "warm_ratio": warm_ratio.to_dict(), "floor_ratio": floor_ratio}
        if with_native:
            summary["cold_ratio_native"] = mean_over_bundles("cold_ratio_native").to_dict()
            summary["warm_ratio_native"] = mean_over_bundles("warm_ratio_native").to_dict()
        json.dump({"rows": out, **summary}, sys.stdout, indent=2)
        print()
        return 0
    versions = f"pydcap {pydcap.__version__}, dcap-qvl {importlib.metadata.version('dcap-qvl')}"
    table = Table(
        title=f"Real bundles: verifications per CPU second, median (range over {args.rounds} rounds); {versions}"
    )
    columns = ("bundle", "Intel verdict", "dcap-qvl", "pydcap cold", "cold ratio", "pydcap warm", "warm ratio")
    accelerated = ("cold ratio native", "warm ratio native") if with_native else ()
    for col in (*columns, *accelerated, "signature checks", "key objects", "floor", "floor ratio"):
        table.add_column(col, justify="left" if col in ("bundle", "Intel verdict") else "right")
    for r in rows:
        ratio = (lambda x: f"{x:.2f}x") if r["comparable"] else (lambda x: "n/a")
        table.add_row(
            r["bundle"],
            r["verdict"],
            f"{r['dcap_qvl']:,.0f}" if r["comparable"] else "cannot verify",
            f"{r['pydcap_cold']:,.0f}",
            r["cold_ratio"].ratio() if r["comparable"] else "n/a",
            f"{r['pydcap_warm']:,.0f}",
            r["warm_ratio"].ratio() if r["comparable"] else "n/a",
            *(r[k].ratio() if r["comparable"] else "n/a" for k in ("cold_ratio_native", "warm_ratio_native") if k in r),
            f"{r['signature_checks']:.0f}",
            f"{r['key_objects']:.0f}",
            f"{r['pydcap_floor']:,.0f}",
            ratio(r["pydcap_floor"] / r["dcap_qvl"]),
        )
    console.print(table)
    for r in rows:
        if not r["comparable"]:
            console.print(f"  {r['bundle']}: excluded, dcap-qvl fails early: {r['dcap_qvl_error']}")
    console.print(
        f"geometric mean vs dcap-qvl over {len(same_work)} bundles: "
        f"cold {cold_ratio.ratio()} (goal >= 0.8), warm {warm_ratio.ratio()} (goal >= 5); "
        f"signature floor {floor_ratio:.2f}x (the most cold could reach here if all but the checks and their key "
        f"objects cost nothing)"
    )
    if with_native:
        console.print(
            f"with the native accelerator (make native): cold {mean_over_bundles('cold_ratio_native').ratio()}, "
            f"warm {mean_over_bundles('warm_ratio_native').ratio()}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
