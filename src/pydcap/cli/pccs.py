"""``pydcap pccs serve | export | import | platforms``: run the caching service, and move its collateral to
and from an air-gapped one in Intel's ``platformcollateral`` JSON, like Intel's PCCS admin tool.

Settings come from ``--config`` (Intel's ``default.json`` keys), then ``PYDCAP_PCCS_*`` variables, then flags.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from rich.table import Table

from pydcap.cache import EntryKey, StoreError
from pydcap.cli import EXIT_OK, EXIT_UNAVAILABLE, CliError
from pydcap.cli.inputs import load_root
from pydcap.cli.output import err, out, print_json, print_table, warn_untrusted_root
from pydcap.cli.services import add_tls_arguments, tls_verification, unavailable
from pydcap.pccs import tables
from pydcap.pccs.collateral_file import export_collateral, export_omissions, import_collateral
from pydcap.pccs.config import CachingMode, PccsConfig, env_name, load_config
from pydcap.pccs.errors import PccsError
from pydcap.pccs.queries import fmspc_list, registration_from_json
from pydcap.pccs.registry import Registration
from pydcap.pccs.server import serve, tls_certificate_path
from pydcap.pccs.service import PccsService
from pydcap.serving import tcp_socket
from pydcap.serving.logs import LOG_FORMATS
from pydcap.serving.values import ConfigError
from pydcap.sources.errors import TlsVerificationError
from pydcap.sources.models import Tee, Update


def register(sub: Any) -> None:
    p = sub.add_parser("pccs", description="Run or administer the caching service (Intel PCCS compatible).")
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
    add_tls_arguments(s, "the upstream", insecure=False, setting="UpstreamCaFile")
    s.add_argument(
        "--insecure-http", action="store_true", default=None, help="plain HTTP (tests, or behind a TLS proxy)"
    )
    s.add_argument("--workers", metavar="N", type=int, help="worker processes sharing the store (Workers; default 1)")
    s.add_argument(
        "--log-level", choices=("error", "warning", "info", "debug"), help="log level (LogLevel; default info)"
    )
    s.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help="log lines readable (text) or as JSON (LogFormat; default auto: text on a terminal, else json)",
    )
    s.set_defaults(handler=run_serve)

    e = psub.add_parser("export", help="write the cache as Intel's platformcollateral JSON")
    _common(e)
    e.add_argument("-o", "--output", metavar="FILE", help="file to write (default: standard output)")
    e.add_argument(
        "--platforms", metavar="LIST", help="first fetch these platforms (Intel's platform_list.json) from --upstream"
    )
    e.add_argument("--upstream", metavar="URL", help="Intel PCS to fetch --platforms from")
    e.add_argument("--api-key", metavar="KEY", help="Intel PCS subscription key")
    add_tls_arguments(e, "the upstream", insecure=False, setting="UpstreamCaFile")
    e.add_argument(
        "--api", type=int, choices=(3, 4), default=4, help="write the documents of this PCCS API version (default 4)"
    )
    e.add_argument("--allow-empty", action="store_true", help="write an empty file instead of failing")
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

    c = psub.add_parser(
        "cert",
        help="print the PCCS's TLS certificate (PEM), which clients trust with --ca-cert",
        description="Print the TLS certificate 'pydcap pccs serve' presents (the configured TlsCertFile, or the "
        "self-signed one it made beside its database), for clients: pydcap's --ca-cert, curl's --cacert, "
        "SSL_CERT_FILE, PYDCAP_COLLATERAL_VERIFY_TLS.",
    )
    c.add_argument("--config", metavar="FILE", help="the PCCS's configuration file (Intel's default.json keys)")
    c.add_argument("--db", metavar="PATH_OR_URL", help="the PCCS's SQLite file or postgresql+psycopg:// URL")
    c.add_argument("--path", action="store_true", help="print the certificate's path instead of its PEM")
    c.set_defaults(handler=run_cert)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="configuration file (Intel's default.json keys)")
    parser.add_argument("--db", metavar="PATH_OR_URL", help="SQLite file or postgresql+psycopg:// URL (DatabaseUrl)")
    parser.add_argument("--root-ca", metavar="PEM", help="trust this root instead of Intel's (RootCaFile)")


def _config(args: argparse.Namespace, **extra: Any) -> PccsConfig:
    overrides: dict[str, Any] = {
        "DatabaseUrl": args.db,
        "RootCaFile": getattr(args, "root_ca", None),
        "UpstreamCaFile": tls_verification(args) if getattr(args, "ca_cert", None) else None,
        "hosts": getattr(args, "host", None),
        "HTTPS_PORT": getattr(args, "port", None),
        "uri": getattr(args, "upstream", None),
        "CachingFillMode": getattr(args, "mode", None),
        "ApiKey": getattr(args, "api_key", None),
        "InsecureHttp": getattr(args, "insecure_http", None),
        "Workers": getattr(args, "workers", None),
        "LogLevel": getattr(args, "log_level", None),
        "LogFormat": getattr(args, "log_format", None),
        **extra,
    }
    try:
        config = load_config(args.config, overrides=overrides, warn=lambda m: err.print(f"[yellow]warning:[/] {m}"))
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    if config.root_ca:
        root = load_root(config.root_ca, "--root-ca (RootCaFile)")
        if root is not None and not root.is_intel:
            warn_untrusted_root(root.name)
    return config


def _service(config: PccsConfig) -> PccsService:
    try:
        return PccsService.from_config(config)
    except StoreError as exc:
        raise CliError(str(exc)) from exc


def run_serve(args: argparse.Namespace) -> int:
    config = _config(args)
    _require_free_port(config)
    try:
        serve(config)
    except (StoreError, OSError) as exc:
        raise CliError(str(exc)) from exc
    return EXIT_OK


def _require_free_port(config: PccsConfig) -> None:
    """A busy port is a one-line usage error now, not a log line from uvicorn and exit status 1 later."""
    try:
        tcp_socket(config.host, config.port).close()
    except OSError as exc:
        raise CliError(f"--port {config.port} (HTTPS_PORT) on {config.host}: {exc.strerror}") from exc


def run_cert(args: argparse.Namespace) -> int:
    config = _config(args)
    if config.insecure_http:
        raise CliError("this PCCS serves plain HTTP (--insecure-http, InsecureHttp): it has no TLS certificate")
    path = tls_certificate_path(config)
    if not path.is_file():
        raise CliError(
            f"no TLS certificate at {path} yet: 'pydcap pccs serve' makes it on first start (with the same "
            "--config/--db), or set TlsCertFile"
        )
    if args.path:
        sys.stdout.write(f"{path}\n")
        return EXIT_OK
    try:
        sys.stdout.write(path.read_text())
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from exc
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    mode = CachingMode.LAZY.value if args.platforms else CachingMode.OFFLINE.value
    config = _config(args, CachingFillMode=mode)
    registrations = _platform_list(args.platforms) if args.platforms else []
    target = config.database_target
    if not registrations and "://" not in target and not Path(target).expanduser().is_file():
        raise CliError(
            f"{_store_flag(args)}: no PCCS store at {target}: nothing to export (name the PCCS's store with --db "
            "or --config; "
            "--platforms LIST fetches platforms into a new one)"
        )
    service = _service(config)

    async def fetch_and_export() -> tuple[dict[str, Any], dict[str, int]]:
        try:
            for registration in registrations:
                await service.platforms.register(registration, "all")
            if registrations and args.api == 3:
                await _fetch_v3_tcb_infos(service)
            document = await asyncio.to_thread(export_collateral, service, args.api)
            return document, await asyncio.to_thread(export_omissions, service, args.api)
        finally:
            await service.aclose()  # the upstreams and the store

    try:
        document, left_out = asyncio.run(fetch_and_export())
    except PccsError as exc:
        cause = exc.__cause__
        if isinstance(cause, TlsVerificationError):
            raise unavailable(cause) from exc
        raise CliError(f"cannot fetch the platforms: {exc.message}", EXIT_UNAVAILABLE) from exc
    c = document["collaterals"]
    count = exported_documents(document)
    summary = (
        f"{count} documents ({len(c['pck_certs'])} platforms, {len(c['tcbinfos'])} FMSPCs) of PCCS API v{args.api} "
        f"from {service.store.location}"
    )
    reasons = [f"left out {n} document{'s' if n != 1 else ''} {why}" for why, n in left_out.items()]
    if count == 0 and not args.allow_empty:
        raise CliError(f"nothing to export: {summary}{''.join('; ' + r for r in reasons)} (--allow-empty writes it)")
    if args.output:
        _write(args.output, json.dumps(document))
    else:
        sys.stdout.write(json.dumps(document) + "\n")
    err.print(f"exported {summary} to {args.output or 'standard output'}", markup=False)
    for reason in reasons:
        err.print(reason, markup=False)
    return EXIT_OK


def _store_flag(args: argparse.Namespace) -> str:
    """How the user named the store: what a message about it should say."""
    if args.db:
        return "--db"
    if os.environ.get(env_name("DatabaseUrl")):
        return env_name("DatabaseUrl")
    return "--config (DatabaseUrl)" if args.config else "the default PCCS store"


def exported_documents(document: dict[str, Any]) -> int:
    """Signed documents, CRLs and PCK certificates in a platformcollateral file."""
    c = document["collaterals"]
    identities = sum(1 for k in c if k.endswith("identity") or k.endswith("identity_early"))
    tcb_infos = sum(len([k for k in item if k != "fmspc"]) for item in c["tcbinfos"])
    crls = len(c["pckcacrl"]) + (1 if c["rootcacrl"] else 0)
    certificates = sum(len(p["certs"]) for p in c["pck_certs"])
    return identities + tcb_infos + crls + certificates


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
        print_table(table)
    return EXIT_OK
