"""``make bench``: a fleet of distinct simulated platforms, pydcap against dcap-qvl, side by side in one process.

The fleet (``pydcap.sim.fleet``): platforms over 5 FMSPCs, each with its own PCK certificate, QE report and
attestation key, one collateral bundle per FMSPC, kept under ``benchmarks/.cache`` (git-ignored) so later runs
reuse it. dcap-qvl runs ``verify_with_root_ca`` with the simulated root; its collateral objects are built once
per FMSPC (its fastest use: it keeps no other state).

first contact  one long-lived ``Verifier`` (default settings) that knows the collateral; each platform once
re-attesting   the same verifier, after first contact: each platform's second quote (same PCK chain and QE report)
cold           a new ``Verifier`` and freshly parsed collateral for every quote (dcap-qvl: ``from_json`` each time)
warm           one platform's quote again and again

Every figure is CPU time (``time.process_time``), pydcap and dcap-qvl alternated in chunks of a few quotes,
repeated over rounds: medians with the range over rounds. ECDSA checks and the P-256 key objects made for them
are counted per quote; the floor is the rate if everything but those cost nothing (at ``cryptography``'s speed for
one check and for one key object from a point, each measured alone); bytes per cached platform is what the
verifier's caches keep per platform (``tracemalloc``, after first contact).

When the native accelerator is built (``make native``), "pydcap native" is a third contender, alternated with
the other two (its own verifier; the accelerator switched on before each of its chunks and off before the
others': ``measure.alternated``), and the fleet's verdicts are compared in both modes.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from measure import NATIVE, EcdsaWork, Spread, accelerator, alternated, ecdsa_rate, ecdsa_work, key_rate
from rich.console import Console
from rich.table import Table

import pydcap
from pydcap.pki import native
from pydcap.sim.fleet import GROUPS, Fleet, FleetMember, cached_fleet

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / ".cache" / "fleet"
GOALS = {"first contact": 3.0, "re-attesting": 6.0, "cold": 0.8, "warm": None}


def verdict(result: pydcap.VerificationResult) -> list[Any]:
    """What a verification decided (everything but the time it ran and the quote itself)."""
    return [
        result.qv_result.value,
        result.tcb_status.value if result.tcb_status else None,
        result.failure.value if result.failure else None,
        list(result.advisory_ids),
        result.collateral_expired,
        result.accepted,
        list(result.reasons),
        result.supplemental.to_dict() if result.supplemental else None,
    ]


class Bench:
    """The fleet, and both contenders' ways of verifying one of its quotes."""

    def __init__(self, fleet: Fleet, warmup: list[FleetMember]) -> None:
        import dcap_qvl

        self.fleet = fleet
        self.warmup = warmup
        self.at = fleet.at
        self.root = fleet.trust_root()  # Intel's CAs are pinned in TrustRoot.intel(); the simulated ones here
        self.root_der = x509.load_pem_x509_certificate(fleet.root_pem).public_bytes(Encoding.DER)
        self.qvl_json = [c.to_dcap_qvl_json() for c in fleet.collateral]
        self.qvl_collateral = [dcap_qvl.QuoteCollateralV3.from_json(j) for j in self.qvl_json]
        self._qvl = dcap_qvl

    def verifier(self) -> pydcap.Verifier:
        """A new verifier with default settings that has checked every FMSPC's collateral (on other platforms)."""
        verifier = pydcap.Verifier(trusted_root=self.root)
        for member in self.warmup:
            verifier.verify(member.first, self.fleet.collateral_of(member), at=self.at)
        return verifier

    def pydcap(self, verifier: pydcap.Verifier, attr: str) -> Callable[[FleetMember], object]:
        collateral, at = self.fleet.collateral, self.at
        return lambda m: verifier.verify(getattr(m, attr), collateral[m.group], at=at)

    def qvl(self, attr: str) -> Callable[[FleetMember], object]:
        verify, collateral, root, at = self._qvl.verify_with_root_ca, self.qvl_collateral, self.root_der, self.at
        return lambda m: verify(getattr(m, attr), collateral[m.group], root, at)

    def pydcap_cold(self, member: FleetMember) -> object:
        collateral = pydcap.Collateral.from_json(self.qvl_json[member.group])
        return pydcap.Verifier(trusted_root=self.root).verify(member.first, collateral, at=self.at)

    def qvl_cold(self, member: FleetMember) -> object:
        collateral = self._qvl.QuoteCollateralV3.from_json(self.qvl_json[member.group])
        return self._qvl.verify_with_root_ca(member.first, collateral, self.root_der, self.at)


def rates(spent: dict[str, float], count: int) -> dict[str, float]:
    return {name: count / max(seconds, 1e-9) for name, seconds in spent.items()}


def fleet_rounds(
    bench: Bench, members: list[FleetMember], rounds: int, chunk: int, modes: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """First contact then re-attesting, each round with a new verifier per pydcap mode."""
    runs: dict[str, list[dict[str, float]]] = {"first contact": [], "re-attesting": []}
    for _ in range(rounds):
        verifiers = {mode: bench.verifier() for mode in modes}
        for workload, attr in (("first contact", "first"), ("re-attesting", "again")):
            contenders = {mode: bench.pydcap(v, attr) for mode, v in verifiers.items()} | {"dcap-qvl": bench.qvl(attr)}
            runs[workload].append(rates(alternated(contenders, members, chunk), len(members)))
        del verifiers
        gc.collect()
    return {workload: summarise(r) for workload, r in runs.items()}


def summarise(runs: list[dict[str, float]]) -> dict[str, Any]:
    """Each contender's rates over the rounds, and each pydcap mode's ratio to dcap-qvl."""
    out: dict[str, Any] = {name: Spread(tuple(r[name] for r in runs)) for name in runs[0]}
    out["ratio"] = out["pydcap"] / out["dcap-qvl"]
    if NATIVE in out:
        out["ratio native"] = out[NATIVE] / out["dcap-qvl"]
    return out


def cached_platforms(verifier: pydcap.Verifier) -> int:
    """How many platforms the verifier's caches hold."""
    stats = getattr(verifier, "cache_stats", None)
    if stats is not None:
        return int(stats().platforms)
    return len(verifier._pck)  # before cache_stats existed: one checked PCK chain per platform


def memory_per_platform(bench: Bench, members: list[FleetMember]) -> tuple[float, int]:
    """Bytes the verifier keeps per platform it holds after first contact with ``members`` (tracemalloc), and how
    many it holds."""
    gc.collect()
    tracemalloc.start()
    verifier = bench.verifier()
    gc.collect()
    base, held_before = tracemalloc.get_traced_memory()[0], cached_platforms(verifier)
    verify = bench.pydcap(verifier, "first")
    for member in members:
        verify(member)
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    held = cached_platforms(verifier)
    return grown / max(held - held_before, 1), held


def work_per_quote(bench: Bench, members: list[FleetMember]) -> dict[str, EcdsaWork]:
    """ECDSA checks and key objects per quote in each workload, counted on the first 50 platforms; re-attesting
    after first contact with all ``members``, in the same order, as the timed runs do; warm on a quote verified
    just before, as the timed runs repeat one."""
    sample = members[:50]
    verifier = bench.verifier()
    first, again = bench.pydcap(verifier, "first"), bench.pydcap(verifier, "again")
    out = {"first contact": ecdsa_work(lambda: [first(m) for m in sample]) / len(sample)}
    for member in members[len(sample) :]:
        first(member)
    out["re-attesting"] = ecdsa_work(lambda: [again(m) for m in sample]) / len(sample)
    out["cold"] = ecdsa_work(lambda: bench.pydcap_cold(sample[0]))
    first(members[-1])
    out["warm"] = ecdsa_work(lambda: first(members[-1]))
    return out


def check_verdicts(bench: Bench, members: list[FleetMember]) -> tuple[str, int, int]:
    """The digest of pydcap's verdicts on ``members`` (equal before and after any optimisation), and how many of
    pydcap's and of dcap-qvl's TCB statuses differ from the fleet's expected ones."""
    verifier = bench.verifier()
    digest = hashlib.sha256()
    pydcap_wrong = qvl_wrong = 0
    qvl = bench.qvl("first")
    for member in members:
        result = verifier.verify(member.first, bench.fleet.collateral_of(member), at=bench.at)
        digest.update(json.dumps(verdict(result), sort_keys=True).encode())
        pydcap_wrong += (result.tcb_status.value if result.tcb_status else None) != member.expected
        qvl_wrong += getattr(qvl(member), "status", None) != member.expected
    return digest.hexdigest()[:16], pydcap_wrong, qvl_wrong


def single_rounds(
    bench: Bench, members: list[FleetMember], rounds: int, modes: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """Cold (cycling through the fleet) and warm (the first platform's quote), each alternated with dcap-qvl."""
    cold_items = members[: min(len(members), 150)]
    warm_items = [members[0]] * 600
    warm = {mode: bench.pydcap(bench.verifier(), "first") for mode in modes}
    for verify in warm.values():
        verify(members[0])
    cold_runs, warm_runs = [], []
    for _ in range(rounds):
        contenders = dict.fromkeys(modes, bench.pydcap_cold) | {"dcap-qvl": bench.qvl_cold}
        cold_runs.append(rates(alternated(contenders, cold_items, 10), len(cold_items)))
        contenders = warm | {"dcap-qvl": bench.qvl("first")}
        warm_runs.append(rates(alternated(contenders, warm_items, 50), len(warm_items)))
    return {"cold": summarise(cold_runs), "warm": summarise(warm_runs)}


def processes(kept: Path, at: int, jobs: int) -> tuple[float, float, int]:
    """``pydcap verify`` on every first-contact quote of the kept fleet with ``--jobs``: wall seconds, CPU
    seconds (all processes), and how many quotes it printed."""
    command = [
        sys.executable,
        "-m",
        "pydcap",
        "verify",
        str(kept / "quotes"),
        "--collateral",
        str(kept / "collateral"),
        "--root-ca",
        str(kept / "root_ca.pem"),
        "--at",
        str(at),
        "--json",
        "--jobs",
        str(jobs),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, check=False, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu, done.stdout.count(b"\n")


def process_rows(kept: Path, at: int, rounds: int) -> list[dict[str, Any]]:
    """1 and 2 processes, alternated, ``rounds`` times each: quotes per wall second and per CPU second."""
    runs: dict[int, list[tuple[float, float, int]]] = {1: [], 2: []}
    for _ in range(rounds):
        for jobs in (1, 2):
            runs[jobs].append(processes(kept, at, jobs))
    rows = []
    for jobs, results in runs.items():
        rows.append(
            {
                "jobs": jobs,
                "quotes": results[0][2],
                "wall": Spread(tuple(n / wall for wall, _, n in results)),
                "cpu": Spread(tuple(n / cpu for _, cpu, n in results)),
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000", help="fleet sizes (default 1000,10000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per workload (default 3)")
    parser.add_argument("--chunk", type=int, default=25, help="quotes per turn when alternating (default 25)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--no-processes", dest="processes", action="store_false", help="skip pydcap verify --jobs 1 vs 2"
    )
    args = parser.parse_args()
    console = Console(width=None if sys.stdout.isatty() else 200)
    if importlib.util.find_spec("dcap_qvl") is None:
        console.print("dcap-qvl is not installed (pip install -e '.[bench]'): nothing to compare against")
        return 2
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if any(s % len(GROUPS) for s in sizes):
        parser.error(f"fleet sizes must be multiples of {len(GROUPS)}")
    started = time.monotonic()
    whole = cached_fleet(max(sizes) + len(GROUPS), CACHE)  # the platforms after the largest fleet warm verifiers up
    bench = Bench(whole, list(whole.members[max(sizes) : max(sizes) + len(GROUPS)]))
    if not args.json:
        console.print(f"fleet of {len(whole):,} platforms ready in {time.monotonic() - started:.1f} s ({CACHE})")

    modes = ("pydcap", NATIVE) if accelerator() else ("pydcap",)
    rows: list[dict[str, Any]] = []
    for size in sizes:
        members = list(whole.members[:size])
        work = work_per_quote(bench, members)
        per_platform, held = memory_per_platform(bench, members)
        for workload, spread in fleet_rounds(bench, members, args.rounds, args.chunk, modes).items():
            rows.append(
                {"workload": f"{workload} ({size:,})", "kind": workload, **spread, "work": work[workload]}
                | {"bytes_per_platform": per_platform, "platforms_cached": held}
            )
    for workload, spread in single_rounds(bench, list(whole.members[: sizes[0]]), args.rounds, modes).items():
        rows.append({"workload": workload, "kind": workload, **spread, "work": work[workload]})
    one_check = ecdsa_rate(pydcap.Quote.parse(whole.members[0].first).pck_chain_pem or b"")
    one_key = key_rate()
    for row in rows:
        done: EcdsaWork = row.pop("work")
        row["checks"], row["keys"] = done.checks, done.keys
        row["floor"] = done.floor(one_check, one_key)
        row["floor_ratio"] = row["floor"] / row["dcap-qvl"].median
    digest, pydcap_wrong, qvl_wrong = check_verdicts(bench, list(whole.members[: sizes[0]]))
    native_digest = None
    if NATIVE in modes:
        native.enable()
        native_digest = check_verdicts(bench, list(whole.members[: sizes[0]]))[0]
        native.disable()
    cores = process_rows(CACHE / f"seed{whole.seed}", whole.at, args.rounds) if args.processes else []

    if args.json:
        out = [{k: v.to_dict() if isinstance(v, Spread) else v for k, v in row.items() if k != "kind"} for row in rows]
        procs = [{k: v.to_dict() if isinstance(v, Spread) else v for k, v in row.items()} for row in cores]
        verdicts = {"verdicts_digest": digest, "native_verdicts_digest": native_digest}
        json.dump({"rows": out, **verdicts, "processes": procs}, sys.stdout, indent=2)
        print()
        return 0
    versions = f"pydcap {pydcap.__version__}, dcap-qvl {importlib.metadata.version('dcap-qvl')}"
    table = Table(
        title=f"Fleet: quote verifications per CPU second, median (range over {args.rounds} rounds); {versions}"
    )
    accelerated = ("pydcap native", "ratio native") if NATIVE in modes else ()
    columns = ("workload", "dcap-qvl", "pydcap", "ratio", *accelerated, "goal", "ECDSA/quote", "keys/quote")
    for col in (*columns, "floor ratio"):
        table.add_column(col, justify="left" if col == "workload" else "right")
    table.add_column("bytes/cached platform", justify="right")
    for row in rows:
        goal = GOALS[row["kind"]]
        memory = row.get("bytes_per_platform")
        table.add_row(
            row["workload"],
            row["dcap-qvl"].rate(),
            row["pydcap"].rate(),
            row["ratio"].ratio(),
            *((row[NATIVE].rate(), row["ratio native"].ratio()) if accelerated else ()),
            f">= {goal}x" if goal else "",
            f"{row['checks']:.1f}",
            f"{row['keys']:.1f}",
            f"{row['floor_ratio']:.2f}x",
            f"{memory:,.0f} ({row['platforms_cached']:,} cached)" if memory is not None else "",
        )
    console.print(table)
    if cores:
        single = cores[0]["wall"].median
        procs_table = Table(title="pydcap verify QUOTES --jobs N (a process per core; one JSON line per quote)")
        for col in ("processes", "quotes", "quotes per wall second", "speed-up", "quotes per CPU second"):
            procs_table.add_column(col, justify="right")
        for row in cores:
            procs_table.add_row(
                str(row["jobs"]),
                f"{row['quotes']:,}",
                row["wall"].rate(),
                f"{row['wall'].median / single:.2f}x",
                row["cpu"].rate(),
            )
        console.print(procs_table)
    console.print(
        f"verdicts of the first {sizes[0]:,} platforms: digest {digest}; TCB status differs from the fleet's "
        f"expected one for pydcap {pydcap_wrong}, dcap-qvl {qvl_wrong}"
    )
    if native_digest is None:
        console.print("pydcap native: the native accelerator is not built (make native), so not measured")
    else:
        same = "the same" if native_digest == digest else "DIFFERENT"
        console.print(f"pydcap native (PYDCAP_NATIVE=1, make native): verdicts digest {native_digest}, {same}")
    console.print(
        f"through cryptography, one ECDSA check: {1e6 / one_check:.0f} us, one P-256 key object from a point: "
        f"{1e6 / one_key:.1f} us; done in {time.monotonic() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
