"""``pydcap provider list|show``: which quote providers pydcap could use here, where each gets PCK certificates
and collateral, which one serves and why; nothing is loaded or contacted (``pydcap doctor`` checks services).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.markup import escape
from rich.table import Table

from pydcap.cli import EXIT_OK, EXIT_REJECTED, CliError
from pydcap.cli.output import out, print_json, print_table
from pydcap.doctor.overview import ProviderOverview, ProviderSummary, survey
from pydcap.provider.errors import ProviderSelectionError


def register(sub: Any) -> None:
    p = sub.add_parser("provider", description="List the quote providers and show the one that serves.")
    psub = p.add_subparsers(dest="provider_command", metavar="SUBCOMMAND", required=True)
    listing = psub.add_parser(
        "list",
        help="every provider pydcap could use here, the selected one marked",
        description="The bundled, Intel QCNL and Azure providers with their configured services, then every "
        "libdcap_quoteprov.so on the search path (under $PYDCAP_SYSROOT), in search order.",
    )
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.set_defaults(handler=run_list)
    show = psub.add_parser(
        "show",
        help="one provider's settings as parsed (default: the one that serves)",
        description="Show a provider: bundled, intel (or qcnl), azure, native, auto or a library path; by "
        "default $PYDCAP_PROVIDER, else the documented search order.",
    )
    show.add_argument("provider", metavar="NAME|PATH", nargs="?", help="the provider to show")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(handler=run_show)


def _survey(choice: str | None = None) -> ProviderOverview:
    try:
        return survey(choice)
    except ProviderSelectionError as exc:
        raise CliError(str(exc)) from exc


def run_list(args: argparse.Namespace) -> int:
    overview = _survey()
    if args.json:
        print_json(overview.to_dict())
        return EXIT_OK
    table = Table(title="Quote providers")
    for column in ("", "provider", "serves from", "problem"):
        table.add_column(column)
    for p in overview.providers:
        table.add_row(
            "[bold green]✔[/]" if p.selected else "", escape(p.name), escape(p.serves_from), escape(p.problem or "")
        )
    print_table(table)
    _print_selection(overview)
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    overview = _survey(args.provider)
    shown = overview.selected
    if args.json:
        print_json({"selection": overview.choice.to_dict(), "provider": shown.to_dict()})
    else:
        _print_provider(shown)
        _print_selection(overview)
    return EXIT_REJECTED if shown.problem else EXIT_OK


def _print_provider(p: ProviderSummary) -> None:
    out.print(f"[bold]{escape(p.name)}[/] ({p.kind}): {escape(p.serves_from)}")
    if p.problem:
        out.print(f"[red]✘ {escape(p.problem)}[/]")
    for key, value in p.settings.items():
        text = value if isinstance(value, str) else json.dumps(value)
        out.print(f"  {key:<24} {escape(text)}")


def _print_selection(overview: ProviderOverview) -> None:
    choice = overview.choice
    out.print(f"Selected: [bold]{escape(choice.selected)}[/] ({escape(choice.reason)})")
    for warning in choice.warnings:
        out.print(f"[yellow]⚠ {escape(warning)}[/]")
