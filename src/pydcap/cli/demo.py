"""``pydcap demo``: verify the real quotes of the shared test data and print Intel's verdicts.

(The full demo, with a simulated Intel, a PCCS and the host API, replaces this once those parts land.)
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from rich.table import Table

from pydcap.cli import EXIT_OK, EXIT_REJECTED
from pydcap.cli.output import out, print_json
from pydcap.collateral import Collateral
from pydcap.verify import Verifier


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the demonstration")
    p.add_argument("--testdata", metavar="DIR", help="shared test data (default: ../shared/testdata)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run)


def testdata_dir(explicit: str | None = None) -> Path | None:
    candidates = [explicit, os.environ.get("PYDCAP_TESTDATA"), "../shared/testdata"]
    for c in candidates:
        if c and (Path(c) / "real").is_dir():
            return Path(c)
    return None


def run(args: argparse.Namespace) -> int:
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
                "expected": want,
                "pydcap": got,
                "match": got == want or got in (expected.get("failure_any") or []),
            }
        )
    if args.json:
        print_json({"bundles": rows})
    else:
        table = Table(title=f"Real quotes from {root}, verified at their pinned times")
        for col in ("bundle", "Intel's verdict", "pydcap", ""):
            table.add_column(col)
        for r in rows:
            table.add_row(r["bundle"], r["expected"], r["pydcap"], "[green]match[/]" if r["match"] else "[red]DIFF[/]")
        out.print(table)
    return EXIT_OK if all(r["match"] for r in rows) else EXIT_REJECTED
