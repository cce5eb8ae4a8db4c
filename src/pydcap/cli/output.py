"""Terminal output shared by the commands: one rich console on stdout, one on stderr; tables drawn for people
on a terminal and written whole, tab-separated, for scripts; values as a person reads them."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

# No emoji codes: ":cd:" in a fingerprint, a claim or base64 is printed as it is, never turned into a picture.
out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def print_table(table: Table) -> None:
    """On a terminal, the table drawn; otherwise (piped, redirected) a header line and one line per row, the cells
    separated by tabs and never cut, the title on standard error."""
    if out.is_terminal:
        out.print(table)
        return
    if table.title:
        err.print(table.title, markup=False)
    lines = [[_plain(c.header) for c in table.columns]]
    lines += [list(row) for row in zip(*([_plain(cell) for cell in c.cells] for c in table.columns), strict=True)]
    sys.stdout.write("".join("\t".join(line) + "\n" for line in lines))


def _plain(cell: Any) -> str:
    text = cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell), emoji=False).plain
    return " ".join(text.split())


def readable(value: Any) -> str:
    """A field's value as a person reads it: yes/no for booleans, a list of numbers on one line."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "-"
    if number_list(value):
        return " ".join(str(v) for v in value)
    return str(value)


def number_list(value: Any) -> bool:
    """A list of numbers (TCB components, SVNs): shown on one line."""
    return isinstance(value, list) and bool(value) and all(type(v) is int for v in value)


def warn_untrusted_root(name: str) -> None:
    err.print(
        f"[bold yellow]WARNING:[/] trusting a root other than Intel's: {name}. "
        "Quotes accepted under it prove nothing about real Intel hardware."
    )
