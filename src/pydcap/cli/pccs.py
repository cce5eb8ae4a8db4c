"""``pydcap pccs serve | export | import | platforms``: run the caching service, and move its collateral to
and from an air-gapped one in Intel's ``platformcollateral`` JSON, like Intel's PCCS admin tool.

Settings come from ``--config`` (Intel's ``default.json`` keys), then ``PYDCAP_PCCS_*`` variables, then flags.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from rich.table import Table

from pydcap.cache import EntryKey, StoreError
from pydcap.cli import EXIT_COLLATERAL_UNAVAILABLE, EXIT_OK, CliError
from pydcap.cli.output import err, out, print_json, warn_untrusted_root
from pydcap.errors import PydcapError
from pydcap.pccs import tables
from pydcap.pccs.collateral_file import export_collateral, import_collateral
from pydcap.pccs.config import CachingMode, PccsConfig, load_config
from pydcap.pccs.errors import PccsError
from pydcap.pccs.queries import fmspc_list, registration_from_json
from pydcap.pccs.registry import Registration
from pydcap.pccs.server import serve
from pydcap.pccs.service import PccsService
from pydcap.pki import TrustRoot
from pydcap.serving.values import ConfigError
from pydcap.sources.models import Tee, Update


def register(sub: Any) -> None:
    p = sub.add_parser("pccs", help="run or administer the caching service (Intel PCCS compatible)")
    psub = p.add_subparsers(dest="pccs_command", metavar="SUBCOMMAND", required=True)

    s = psub.add_parser(
        "serve", help="serve Intel's PCCS API", description="Serve Intel's PCCS API (v3, v4; SGX, TDX)."
    )
    _common(s)
    s.add_argument("--host", metavar="H", help="address to listen on (hosts; default 127.0.0.1)")
    s.add_argument("--port", metavar="P", type=int, help="port (HTTPS_PORT; default 8081)")
    s.add_argument(
        "--upstream", metavar="URL", help="Intel PCS root URL, or one ending in /sgx/certification/vN/ (uri)"
    )
    s.add_argument(
        "--mode", choices=[m.value for m in CachingMode], help="caching mode (CachingFillMode; default LAZY)"
    )
    s.add_argument("--api-key", metavar="KEY", help="Intel PCS subscription key (ApiKey)")
    s.add_argument(
        "--insecure-http", action="store_true", default=None, help="plain HTTP (tests, or behind a TLS proxy)"
    )
    s.add_argument("--workers", metavar="N", type=int, help="worker processes sharing the store (Workers; default 1)")
    s.set_defaults(handler=run_serve)

    e = psub.add_parser("export", help="write the cache as Intel's platformcollateral JSON")
    _common(e)
    e.add_argument("-o", "--output", metavar="FILE", help="file to write (default: standard output)")
    e.add_argument(
        "--platforms", metavar="LIST", help="first fetch these platforms (Intel's platform_list.json) from --upstream"
    )
    e.add_argument("--upstream", metavar="URL", help="Intel PCS to fetch --platforms from")
    e.add_argument("--api-key", metavar="KEY", help="Intel PCS subscription key")
    e.add_argument(
        "--api", type=int, choices=(3, 4), default=4, help="write the documents of this PCCS API version (default 4)"
    )
    e.set_defaults(handler=run_export)

    i = psub.add_parser("import", help="import Intel's platformcollateral JSON (verified first)")
    _common(i)
    i.add_argument("file", metavar="FILE", help="platformcollateral JSON ('-' for standard input)")
    i.set_defaults(handler=run_import)

    pl = psub.add_parser("platforms", help="list registered or cached platforms, like Intel's admin tool")
    _common(pl)
    pl.add_argument(
        "--source",
        default="reg",
        help="reg (registered, default), reg_na (certificates not available), cached, or FMSPCs",
    )
    pl.add_argument("--take", action="store_true", help="mark the listed registrations as read (as GET platforms does)")
    pl.add_argument("-o", "--output", metavar="FILE", help="write Intel's platform_list.json to FILE")
    pl.add_argument("--json", action="store_true", help="print the list as JSON")
    pl.set_defaults(handler=run_platforms)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="configuration file (Intel's default.json keys)")
    parser.add_argument("--db", metavar="PATH_OR_URL", help="SQLite file or postgresql+psycopg:// URL (DatabaseUrl)")
    parser.add_argument("--root-ca", metavar="PEM", help="trust this root instead of Intel's (RootCaFile)")


def _config(args: argparse.Namespace, **extra: Any) -> PccsConfig:
    overrides: dict[str, Any] = {
        "DatabaseUrl": args.db,
        "RootCaFile": args.root_ca,
        "hosts": getattr(args, "host", None),
        "HTTPS_PORT": getattr(args, "port", None),
        "uri": getattr(args, "upstream", None),
        "CachingFillMode": getattr(args, "mode", None),
        "ApiKey": getattr(args, "api_key", None),
        "InsecureHttp": getattr(args, "insecure_http", None),
        "Workers": getattr(args, "workers", None),
        **extra,
    }
    try:
        config = load_config(args.config, overrides=overrides, warn=lambda m: err.print(f"[yellow]warning:[/] {m}"))
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    if config.root_ca:
        try:
            root = TrustRoot.from_pem(Path(config.root_ca).read_bytes())
        except (OSError, PydcapError) as exc:
            raise CliError(f"root CA {config.root_ca}: {exc}") from exc
        if not root.is_intel:
            warn_untrusted_root(root.name)
    return config


def _service(config: PccsConfig) -> PccsService:
    try:
        return PccsService.from_config(config)
    except StoreError as exc:
        raise CliError(str(exc)) from exc


def run_serve(args: argparse.Namespace) -> int:
    config = _config(args)
    try:
        serve(config)
    except (StoreError, OSError) as exc:
        raise CliError(str(exc)) from exc
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    mode = CachingMode.LAZY.value if args.platforms else CachingMode.OFFLINE.value
    config = _config(args, CachingFillMode=mode)
    registrations = _platform_list(args.platforms) if args.platforms else []
    service = _service(config)

    async def fetch_and_export() -> dict[str, Any]:
        try:
            for registration in registrations:
                await service.platforms.register(registration, "all")
            if registrations and args.api == 3:
                await _fetch_v3_tcb_infos(service)
            return await asyncio.to_thread(export_collateral, service, args.api)
        finally:
            await service.aclose()  # the upstreams and the store

    try:
        document = asyncio.run(fetch_and_export())
    except PccsError as exc:
        raise CliError(f"cannot fetch the platforms: {exc.message}", EXIT_COLLATERAL_UNAVAILABLE) from exc
    text = json.dumps(document)
    if args.output:
        _write(args.output, text)
        c = document["collaterals"]
        err.print(f"wrote {args.output}: {len(c['pck_certs'])} platforms, {len(c['tcbinfos'])} FMSPCs")
    else:
        sys.stdout.write(text + "\n")
    return EXIT_OK


def _platform_list(path: str) -> list[Registration]:
    """Intel's ``platform_list.json`` (what ``GET platforms`` and ``pydcap pccs platforms -o`` write)."""
    items = _read_json(path)
    if not isinstance(items, list):
        raise CliError(f"{path}: a platform list is a JSON array of registrations")
    try:
        return [registration_from_json(item) for item in items]
    except PccsError as exc:
        raise CliError(f"{path}: {exc.detail}") from exc


def _read_json(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        return json.loads(text)
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise CliError(f"{path} is not JSON: {exc}") from exc


async def _fetch_v3_tcb_infos(service: PccsService) -> None:
    """The API v3 SGX TCB infos of every cached platform's FMSPC, which a v3 file carries (registering a
    platform fetches those of API v4 only)."""
    platforms = await asyncio.to_thread(service.registry.platforms)
    for fmspc in sorted({platform.fmspc for platform in platforms}):
        await service.document(EntryKey.tcb_info(Tee.SGX, fmspc, Update.STANDARD), 3, fetch=True)
        await service.optional_document(EntryKey.tcb_info(Tee.SGX, fmspc, Update.EARLY), 3, fetch=True)


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from exc


def run_import(args: argparse.Namespace) -> int:
    body = _read_json(args.file)
    config = _config(args, CachingFillMode=CachingMode.OFFLINE.value)
    service = _service(config)
    try:
        # The file says which API its documents are of (its version, or its fields); import_collateral reads it.
        summary = asyncio.run(import_collateral(service, body))
    except PccsError as exc:
        raise CliError(f"{args.file} was not imported: {exc.message}") from exc
    finally:
        service.store.close()
    out.print(
        f"imported {summary.documents} documents, {summary.platforms} platforms and {summary.certificates} "
        f"PCK certificates into {service.store.location}"
    )
    for note in summary.not_imported:
        out.print(f"not imported: {note}", markup=False)
    return EXIT_OK


def run_platforms(args: argparse.Namespace) -> int:
    config = _config(args, CachingFillMode=CachingMode.OFFLINE.value)
    service = _service(config)
    try:
        registry = service.registry
        state = tables.QUEUE_STATES.get(args.source)
        if state is not None:
            rows = [r.to_json() for r in registry.registrations(state, take=args.take)]
        else:
            try:
                fmspcs = [] if args.source == "cached" else fmspc_list(args.source)
            except PccsError as exc:
                raise CliError(exc.detail) from exc
            rows = registry.cached_platform_rows(fmspcs)
    finally:
        service.store.close()
    if args.output:
        _write(args.output, json.dumps(rows))
        err.print(f"wrote {len(rows)} platforms to {args.output}")
    elif args.json:
        print_json(rows)
    else:
        table = Table(title=f"{len(rows)} platforms ({args.source}) in {service.store.location}")
        for column in ("QE-ID", "PCE-ID", "CPUSVN", "PCESVN", "encrypted PPID", "manifest"):
            table.add_column(column)
        for row in rows:
            ppid = row["enc_ppid"]
            table.add_row(
                row["qe_id"], row["pce_id"], row["cpu_svn"], row["pce_svn"],
                f"{ppid[:8]}...{ppid[-8:]}" if len(ppid) > 20 else ppid,
                f"{len(row['platform_manifest']) // 2} bytes" if row["platform_manifest"] else "",
            )  # fmt: skip
        out.print(table)
    return EXIT_OK
