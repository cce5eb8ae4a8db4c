"""``pydcap demo`` (what ``make demo`` runs): the whole system on one machine, then a short report.

With ``--real-quotes`` it instead verifies the real Intel quotes of the shared test data at their pinned
times and compares with Intel's own verdicts.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from rich.table import Table

from pydcap.cli import EXIT_OK, EXIT_REJECTED, CliError
from pydcap.cli.output import err, out, print_json, print_table


def register(sub: Any) -> None:
    p = sub.add_parser("demo", description="Run the demonstration (simulated Intel, PCCS, enclaves; no hardware).")
    p.add_argument("--json", action="store_true", help="print a machine-readable account")
    p.add_argument("--real-quotes", action="store_true", help="verify the real quotes of the shared test data")
    p.add_argument("--testdata", metavar="DIR", help="shared test data (default: ../shared/testdata)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.real_quotes:
        return run_real_quotes(args)
    from pydcap.demo import run_demo
    from pydcap.sim import default_seed

    try:
        default_seed()
    except ValueError as exc:
        raise CliError(str(exc)) from exc

    if args.json:
        report = run_demo()
        print_json(report.to_dict())
        return EXIT_OK if report.ok else EXIT_REJECTED
    with err.status("starting") as status:
        report = run_demo(progress=status.update)
    out.print(f"[bold]pydcap demo[/]: simulated Intel at {report.pcs_url}, pydcap PCCS at {report.pccs_url}")
    out.print("quote provider: bundled, pointed at the PCCS, trusting the simulated Intel's root (not Intel's)")
    table = Table(show_lines=False)
    table.add_column("round", justify="right", no_wrap=True, min_width=5)
    table.add_column("step", no_wrap=True)
    table.add_column("what happened")
    table.add_column("to Intel", justify="right", no_wrap=True, min_width=8)
    table.add_column("time", justify="right", no_wrap=True, min_width=6)
    for s in report.steps:
        table.add_row(str(s.round), s.name, s.what, str(s.upstream_requests), f"{s.seconds * 1000:.0f} ms")
    print_table(table)
    for rnd in report.rounds:
        verdicts = ", ".join(
            f"{v['tee']} {v['qv_result']}" + ("" if v["accepted"] else " (rejected)") for v in rnd.verdicts
        )
        out.print(
            f"round {rnd.number}: {rnd.upstream_requests} requests reached the simulated Intel; verdicts {verdicts}"
        )
    if report.ok:
        out.print("[bold green]OK[/]: forwarded to Intel once, persisted; the second round was served from the cache.")
        issuer = report.attestation["issuer"]
        out.print(f"attestation service (MAA API) at {issuer}: signed token issued and verified", markup=False)
    else:
        out.print("[bold red]FAILED[/]: see the table above")
    out.print(f"(state kept in {report.directory}; it is reset on the next run)")
    return EXIT_OK if report.ok else EXIT_REJECTED


def testdata_dir(explicit: str | None = None) -> Path | None:
    for c in (explicit, os.environ.get("PYDCAP_TESTDATA"), "../shared/testdata"):
        if c and (Path(c) / "real").is_dir():
            return Path(c)
    return None


def run_real_quotes(args: argparse.Namespace) -> int:
    from pydcap.collateral import Collateral
    from pydcap.verify import Verifier

    root = testdata_dir(args.testdata)
    if root is None:
        out.print("No shared test data found (../shared/testdata or $PYDCAP_TESTDATA): nothing verified.")
        return EXIT_OK
    verifier = Verifier()
    rows: list[dict[str, Any]] = []
    for bundle in sorted(p for kind in ("real", "negative") for p in (root / kind).iterdir() if p.is_dir()):
        expected = json.loads((bundle / "expected.json").read_text())
        result = verifier.appraise(
            (bundle / "quote.bin").read_bytes(), Collateral.load(bundle), at=expected["verify_at"]["unix"]
        )
        want = expected["failure"] or expected["tcb_status"]
        got = result.failure.value if result.failure else result.tcb_status.value if result.tcb_status else None
        rows.append(
            {
                "bundle": f"{bundle.parent.name}/{bundle.name}",
                "intel": want,
                "pydcap": got,
                "match": got == want or got in (expected.get("failure_any") or []),
            }
        )
    if args.json:
        print_json({"bundles": rows})
    else:
        table = Table(title=f"Real quotes from {root}, verified at their pinned times")
        for col in ("bundle", "Intel's verdict", "pydcap", ""):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(r["bundle"], r["intel"], r["pydcap"], "[green]match[/]" if r["match"] else "[red]DIFF[/]")
        print_table(table)
    return EXIT_OK if all(r["match"] for r in rows) else EXIT_REJECTED
