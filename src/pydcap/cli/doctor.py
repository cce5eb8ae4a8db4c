"""``pydcap doctor``: why attestation will or will not work here: SGX/TDX devices, container, AESM, which
quote provider serves and why, the QCNL and Azure configuration, and whether the collateral service answers.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.markup import escape
from rich.table import Table

from pydcap.cli import EXIT_OK, EXIT_REJECTED
from pydcap.cli.output import out, print_json, print_table
from pydcap.cli.services import add_tls_arguments, tls_verification
from pydcap.doctor.diagnosis import DoctorReport, examine

_MARKS = {"ok": "[green]✔[/]", "info": "[dim]·[/]", "warning": "[yellow]⚠[/]", "error": "[red]✘[/]"}


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "doctor",
        description="Check SGX/TDX devices, container setup, AESM, the quote provider and the collateral service "
        "it is configured for (the QCNL file, AZDCAP_* or, for the bundled provider, PYDCAP_COLLATERAL_*). "
        "Paths are looked up under $PYDCAP_SYSROOT (default /).",
    )
    p.add_argument("--provider", metavar="NAME|PATH", help="bundled, intel, azure, native or a library path")
    p.add_argument("--service", metavar="URL", help="check this collateral service URL instead of the configured one")
    p.add_argument("--offline", action="store_true", help="do not contact the collateral service")
    add_tls_arguments(p, "the collateral service", insecure=False)
    p.add_argument("--timeout", metavar="SECONDS", type=float, default=3.0, help="service check timeout (default 3)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    tls_verification(args)  # a --ca-cert that is not a PEM certificate file is refused before anything else
    report = examine(
        provider=args.provider,
        network=not args.offline,
        service_url=args.service,
        timeout=args.timeout,
        ca_cert=args.ca_cert,
    )
    if args.json:
        print_json(report.to_dict())
    else:
        print_report(report)
    return EXIT_OK if report.healthy else EXIT_REJECTED


def print_report(report: DoctorReport) -> None:
    """Findings, plugins and flags as text; everything taken from the machine (paths, configuration errors)
    is escaped, so a bracket in a path is shown rather than read as markup."""
    out.print(f"[bold]pydcap doctor[/]  (system root {escape(report.sysroot)})")
    for finding in report.findings:
        out.print(f" {_MARKS[finding.level]} [bold]{finding.topic:<10}[/] {escape(finding.message)}")
    choice = report.choice
    if choice is not None and choice.candidates:
        table = Table(title="Installed quote provider plugins, in search order")
        for column in ("#", "path", "what it is", ""):
            table.add_column(column)
        for c in choice.candidates:
            status = "[bold green]selected[/]" if c.path == choice.path else ""
            if c.same_file_as:
                status = escape(f"same file as {c.same_file_as}")
            table.add_row(str(c.position), escape(c.path), escape(c.label), status)
        print_table(table)
    if report.machine.in_container:
        missing = report.machine.missing_container_flags()
        if missing:
            out.print(f"Container flags not in effect here: {' '.join(missing)}")
    errors = sum(f.level == "error" for f in report.findings)
    warnings = sum(f.level == "warning" for f in report.findings)
    if report.healthy:
        quotes = "can make quotes" if report.can_quote else "cannot make quotes (verification only)"
        out.print(f"[bold green]No errors[/] ({warnings} warnings): this machine {quotes}.")
    else:
        out.print(f"[bold red]{errors} error{'s' if errors != 1 else ''}[/], {warnings} warnings.")
