"""``pydcap cache list | clear | stats``: look into (or empty) the persistent collateral cache.

The store is the SQLite file under the user's cache directory unless ``--cache`` names another file or
a PostgreSQL URL. Freshness is judged now, or at ``--at``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.table import Table

from pydcap.cache import CollateralStore, EntryKind, StoreError
from pydcap.cache.keys import trust_root_id
from pydcap.cache.locations import STORE_ENV, default_store_path
from pydcap.cli import EXIT_OK, EXIT_REJECTED, CliError
from pydcap.cli.inputs import parse_time
from pydcap.cli.output import out, print_json, print_table
from pydcap.intel import iso
from pydcap.pki import TrustRoot


def register(sub: Any) -> None:
    p = sub.add_parser("cache", description="Inspect or clear the collateral cache.")
    csub = p.add_subparsers(dest="cache_command", metavar="SUBCOMMAND", required=True)
    for name, help_text, handler in (
        ("list", "list the cached documents", run_list),
        ("clear", "remove cached documents", run_clear),
        ("stats", "count entries, fresh entries, bytes and fetches", run_stats),
    ):
        c = csub.add_parser(name, help=help_text)
        c.add_argument("--cache", metavar="PATH_OR_URL", help="SQLite file or postgresql+psycopg:// URL")
        c.add_argument("--kind", choices=[k.value for k in EntryKind], help="only entries of this kind")
        if name == "clear":
            c.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
        else:
            c.add_argument("--at", metavar="TIME", help="judge freshness at this time (default now)")
            c.add_argument("--json", action="store_true", help="print one JSON object")
        c.set_defaults(handler=handler)


@contextmanager
def _open(args: argparse.Namespace) -> Iterator[CollateralStore]:
    """The store, closed on the way out; its failures (opening or later) are one-line errors. Looking into
    a cache never creates one: a SQLite file that does not exist is reported as such."""
    target = args.cache or os.environ.get(STORE_ENV) or str(default_store_path())
    if "://" not in target and not Path(target).expanduser().exists():
        given = "--cache" if args.cache else STORE_ENV if os.environ.get(STORE_ENV) else "the default cache"
        raise CliError(f"{given}: no collateral cache at {target} (nothing has been cached there)")
    try:
        with CollateralStore.open(args.cache) as store:
            yield store
    except StoreError as exc:
        raise CliError(str(exc)) from exc


def _now(args: argparse.Namespace) -> int:
    at = parse_time(args.at)
    return at if at is not None else int(time.time())


def _root_label(root_id: str) -> str:
    return "Intel" if root_id == trust_root_id(TrustRoot.intel()) else f"other ({root_id[:8]})"


def run_list(args: argparse.Namespace) -> int:
    now = _now(args)
    with _open(args) as store:
        rows = store.entries(kind=args.kind)
        location = store.location
    if args.json:
        items = [
            {
                "key": str(entry.key),
                "kind": entry.key.kind.value,
                "root": _root_label(root_id),
                "fresh": now < entry.valid_until,
                "fetched_at": iso(entry.fetched_at),
                "fresh_until": iso(entry.valid_until),
                "bytes": entry.size,
                "source": entry.source,
            }
            for root_id, entry in rows
        ]
        print_json({"store": location, "entries": items})
        return EXIT_OK
    table = Table(title=f"{len(rows)} cached documents in {location}")
    for column in ("key", "root", "state", "fetched", "fresh until", "bytes", "source"):
        table.add_column(column)
    for root_id, entry in rows:
        table.add_row(
            str(entry.key),
            _root_label(root_id),
            "fresh" if now < entry.valid_until else "[yellow]STALE[/]",
            iso(entry.fetched_at),
            iso(entry.valid_until),
            str(entry.size),
            entry.source,
        )
    print_table(table)
    return EXIT_OK


def run_clear(args: argparse.Namespace) -> int:
    what = f"{args.kind} entries" if args.kind else "entries"
    with _open(args) as store:
        location = store.location
        count = len(store.entries(kind=args.kind))
        if count and not args.yes:
            _confirm(f"Remove {count} {what} from {location}?")
        removed = store.clear(kind=args.kind)
    out.print(f"Removed {removed} {what} from {location}")
    return EXIT_OK


def _confirm(question: str) -> None:
    """Ask on the terminal; without one (a script), refuse and name --yes."""
    if not sys.stdin.isatty():
        raise CliError(f"{question} Not without confirmation: run it on a terminal, or pass --yes")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise CliError("nothing removed", EXIT_REJECTED)


def run_stats(args: argparse.Namespace) -> int:
    now = _now(args)
    with _open(args) as store:
        summary = store.summary(now)
    kinds = [k for k in summary.kinds if args.kind is None or k.kind == args.kind]
    if args.json:
        print_json(
            {
                "store": summary.location,
                "database": summary.dialect,
                "entries": sum(k.entries for k in kinds),
                "by_kind": {k.kind: {"entries": k.entries, "fresh": k.fresh, "bytes": k.bytes} for k in kinds},
                "counters": dict(summary.counters),
            }
        )
        return EXIT_OK
    out.print(f"Store    : {summary.location} ({summary.dialect})")
    out.print(f"Entries  : {sum(k.entries for k in kinds)} ({sum(k.fresh for k in kinds)} fresh at {iso(now)})")
    for k in kinds:
        out.print(f"  {k.kind:<16} {k.entries:>5} entries, {k.fresh:>5} fresh, {k.bytes:>8} bytes")
    for name, value in sorted(summary.counters.items()):
        out.print(f"{name:<17}: {value}")
    return EXIT_OK
