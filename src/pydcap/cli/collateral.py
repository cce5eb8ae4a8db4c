"""``pydcap collateral fetch``: a quote's collateral from Intel PCS, a PCCS or Azure, through the cache.

Also the options and plumbing that ``pydcap verify --pcs/--pccs/--azure`` shares: choosing the source,
opening the store (``--cache``, ``--no-cache``), and turning unavailable collateral into exit status 3.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pydcap.cli import EXIT_OK, CliError
from pydcap.cli.inputs import load_root, parse_time, read_quote
from pydcap.cli.output import err, out, print_json, warn_untrusted_root
from pydcap.cli.services import add_tls_arguments, tls_verification, unavailable
from pydcap.intel import iso
from pydcap.sources.defaults import AZURE_GLOBAL_CACHE_URL, DEFAULT_PCCS_URL, INTEL_PCS_URL

if TYPE_CHECKING:  # the clients and the cache load when a service is used (httpx, SQLAlchemy)
    from pydcap.cache import CollateralService, FetchedCollateral
    from pydcap.pki import TrustRoot
    from pydcap.sources import CollateralSource


def register(sub: Any) -> None:
    p = sub.add_parser("collateral", description="Fetch verification collateral.")
    csub = p.add_subparsers(dest="collateral_command", metavar="SUBCOMMAND", required=True)
    fetch = csub.add_parser(
        "fetch",
        help="fetch a quote's collateral (through the cache) and write it to a directory",
        description="Fetch the collateral a quote needs and write it in the layout of the shared test data.",
    )
    fetch.add_argument("quote", metavar="QUOTE", help="quote file")
    fetch.add_argument("-o", "--output", metavar="DIR", required=True, help="directory to write")
    add_service_arguments(fetch)
    fetch.add_argument("--root-ca", metavar="PEM", help="trust this root instead of Intel's (prints a warning)")
    fetch.add_argument("--at", metavar="TIME", help="judge freshness at this time (default now)")
    fetch.add_argument("--json", action="store_true", help="print one JSON object")
    fetch.set_defaults(handler=run_fetch)


def add_service_arguments(parser: argparse.ArgumentParser) -> None:
    """``--pcs [URL] | --pccs [URL] | --azure [URL]``, ``--api-key``, ``--ca-cert | --insecure``, ``--update``,
    ``--cache PATH_OR_URL | --no-cache``."""
    group = parser.add_argument_group("collateral service")
    which = group.add_mutually_exclusive_group()
    which.add_argument(
        "--pcs",
        metavar="URL",
        nargs="?",
        const=INTEL_PCS_URL,
        help=f"Intel PCS (default {INTEL_PCS_URL}; the default service of collateral fetch)",
    )
    which.add_argument(
        "--pccs",
        metavar="URL",
        nargs="?",
        const=DEFAULT_PCCS_URL,
        help=f"a PCCS, Intel's or pydcap's (default {DEFAULT_PCCS_URL})",
    )
    which.add_argument(
        "--azure",
        metavar="URL",
        nargs="?",
        const=AZURE_GLOBAL_CACHE_URL,
        help=f"Azure's collateral cache (default {AZURE_GLOBAL_CACHE_URL})",
    )
    group.add_argument("--api-key", metavar="KEY", help="Intel PCS subscription key (Ocp-Apim-Subscription-Key)")
    add_tls_arguments(group, "the collateral service")
    group.add_argument("--update", choices=["standard", "early"], default="standard", help="TCB evaluation to use")
    store = group.add_mutually_exclusive_group()
    store.add_argument(
        "--cache", metavar="PATH_OR_URL", help="cache store: SQLite file or postgresql+psycopg:// URL (default: XDG)"
    )
    store.add_argument("--no-cache", action="store_true", help="keep nothing: fetch everything afresh")


def wants_service(args: argparse.Namespace) -> bool:
    return any(getattr(args, name, None) for name in ("pcs", "pccs", "azure"))


def make_source(args: argparse.Namespace) -> CollateralSource:
    from pydcap.sources import AzureClient, HttpSettings, PccsClient, PcsClient

    settings = HttpSettings(verify_tls=tls_verification(args))
    try:
        if args.pccs:
            return PccsClient(args.pccs, settings=settings)
        if args.azure:
            return AzureClient(args.azure, settings=settings)
        return PcsClient(args.pcs or INTEL_PCS_URL, api_key=args.api_key, settings=settings)
    except ValueError as exc:
        raise CliError(str(exc)) from exc


@contextmanager
def collateral_service(args: argparse.Namespace, root: TrustRoot | None, at: int | None) -> Iterator[CollateralService]:
    """The service the options describe; the store is closed on the way out."""
    from pydcap.cache import CollateralCache, CollateralService, CollateralStore, StoreError, default_store_limit
    from pydcap.sources import Update

    source = make_source(args)  # a bad URL is refused before any store is opened (or created)
    store = None
    if not args.no_cache:
        try:
            store = CollateralStore.open(args.cache, max_bytes=default_store_limit())
        except StoreError as exc:
            raise CliError(str(exc)) from exc
    clock = (lambda: float(at)) if at is not None else None
    cache = CollateralCache(store, trust=root, clock=clock)
    service = CollateralService(source, cache, update=Update(args.update))
    try:
        yield service
    finally:
        service.close()
        if store is not None:
            store.close()


def fetch_for_quote(
    args: argparse.Namespace, quote: bytes, root: TrustRoot | None, at: int | None
) -> FetchedCollateral:
    """Fetch through the cache, or fail with exit status 3 saying why (and with 2 for unusable input or a
    failing store)."""
    from pydcap.cache import StoreError
    from pydcap.errors import CollateralError, FormatError

    with collateral_service(args, root, at) as service:
        try:
            fetched = service.fetch(quote)
        except CollateralError as exc:
            raise unavailable(exc) from exc
        except FormatError as exc:
            raise CliError(f"cannot tell which collateral the quote needs: {exc}") from exc
        except StoreError as exc:
            raise CliError(str(exc)) from exc
    for part in fetched.stale_parts:
        entry = fetched.entries[part]
        err.print(
            f"[bold yellow]WARNING:[/] the {entry.key.description} is stale (fresh until "
            f"{iso(entry.valid_until)}); the upstream could not provide a fresher one"
        )
    return fetched


def run_fetch(args: argparse.Namespace) -> int:
    quote = read_quote(args.quote)
    root = load_root(args.root_ca)
    if root is not None and not root.is_intel:
        warn_untrusted_root(root.name)
    fetched = fetch_for_quote(args, quote, root, parse_time(args.at))
    try:
        fetched.collateral.write_directory(args.output)
    except OSError as exc:
        raise CliError(f"-o {args.output}: cannot write it: {exc.strerror}") from exc
    entries = dict(fetched.entries)
    if fetched.pck_certificate is not None:  # a quote with an encrypted PPID: its PCK chain is in pck_cert.pem
        entries["pck_cert"] = fetched.pck_certificate.entry
    summary = {
        "output": args.output,
        "tee": fetched.request.tee.value,
        "fmspc": fetched.request.fmspc.hex(),
        "ca": fetched.request.ca.value,
        "parts": {
            part: {
                "origin": e.origin,
                "stale": e.stale,
                "fresh_until": iso(e.valid_until),
                "source": e.source,
            }
            for part, e in entries.items()
        },
    }
    if args.json:
        print_json(summary)
    else:
        out.print(
            f"Wrote the collateral of a {summary['tee'].upper()} quote (FMSPC {summary['fmspc']}, "
            f"{summary['ca']} CA) to {args.output}"
        )
        for part, info in summary["parts"].items():
            state = "[yellow]stale[/]" if info["stale"] else "fresh"
            out.print(f"  {part:<12} {state} until {info['fresh_until']}  ({info['origin']})")
    return EXIT_OK
