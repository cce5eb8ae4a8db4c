"""``pydcap attest serve | cert | rotate-key | token verify``: run the attestation service (Microsoft Azure
Attestation's API), print its TLS certificate, rotate its token signing key, and check a token it issued.

Settings come from ``--config`` (JSON), then ``PYDCAP_ATTEST_*`` variables, then flags.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pydcap.cli import EXIT_OK, EXIT_REJECTED, EXIT_UNAVAILABLE, CliError
from pydcap.cli.inputs import load_root
from pydcap.cli.output import err, out, print_json, warn_untrusted_root
from pydcap.cli.services import add_tls_arguments, tls_verification


def register(sub: Any) -> None:
    p = sub.add_parser("attest", help="run the attestation service (Microsoft Azure Attestation's API)")
    psub = p.add_subparsers(dest="attest_command", metavar="SUBCOMMAND", required=True)

    s = psub.add_parser("serve", help="serve MAA's attestation API", description="Quotes in, signed tokens out.")
    _common(s)
    s.add_argument("--host", metavar="H", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", metavar="P", type=int, help="port (default 8443)")
    upstream = s.add_mutually_exclusive_group()
    upstream.add_argument("--upstream", metavar="URL", help="Intel PCS (or a service speaking its API) for collateral")
    upstream.add_argument("--pccs", metavar="URL", help="a PCCS for collateral")
    upstream.add_argument("--azure", metavar="URL", help="Azure's collateral cache")
    add_tls_arguments(s, "the upstream", insecure=False, setting="upstream_ca")
    s.add_argument("--upstream-ca", dest="ca_cert", metavar="PEM", help=argparse.SUPPRESS)  # --ca-cert's old name
    s.add_argument("--api-key", metavar="KEY", help="Intel PCS subscription key")
    s.add_argument("--issuer", metavar="URL", help="the tokens' iss (default: this server's URL)")
    s.add_argument("--tenant", metavar="NAME", action="append", help="serve a tenant at /tenants/NAME (repeatable)")
    s.add_argument("--algorithm", choices=["RS256", "ES256"], help="token signature (default RS256, as MAA)")
    s.add_argument("--workers", metavar="N", type=int, help="worker processes sharing the store (default 1)")
    s.add_argument("--insecure-http", action="store_true", default=None, help="plain HTTP (tests, or behind TLS)")
    s.set_defaults(handler=run_serve)

    c = psub.add_parser("cert", help="print the service's TLS certificate (PEM), made now if missing")
    _common(c)
    c.set_defaults(handler=run_cert)

    r = psub.add_parser("rotate-key", help="sign with a new key from now on (old ones stay published until expiry)")
    _common(r)
    r.add_argument("--tenant", metavar="NAME", default="", help="the tenant whose key to rotate (default: the root)")
    r.add_argument("--issuer", metavar="URL", help="the issuer URL, named in the new key's certificate")
    r.set_defaults(handler=run_rotate)

    t = psub.add_parser("token", help="check tokens issued by an attestation service")
    tsub = t.add_subparsers(dest="token_command", metavar="SUBCOMMAND", required=True)
    v = tsub.add_parser("verify", help="verify a token's signature, issuer and times; print its claims")
    v.add_argument("token", metavar="TOKEN", help="the token, a file holding it, or '-' for standard input")
    v.add_argument("--issuer", metavar="URL", required=True, help="the issuer the token must come from")
    v.add_argument("--ca-cert", metavar="PEM", help="trust this certificate for the issuer's HTTPS")
    v.add_argument("--nonce", metavar="TEXT", help="the nonce the token must carry")
    v.add_argument("--json", action="store_true", help="print the claims as one JSON object")
    v.set_defaults(handler=run_verify)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="configuration file (JSON)")
    parser.add_argument(
        "--db", metavar="PATH_OR_URL", help="SQLite file or postgresql+psycopg:// URL (default: the PCCS's store)"
    )
    parser.add_argument("--root-ca", metavar="PEM", help="trust this root instead of Intel's (tests, simulations)")


def _config(args: argparse.Namespace) -> Any:
    from pydcap.attest.config import load_config
    from pydcap.serving.values import ConfigError

    source, upstream = "pcs", getattr(args, "upstream", None)
    for name in ("pccs", "azure"):
        if getattr(args, name, None):
            source, upstream = name, getattr(args, name)
    overrides: dict[str, Any] = {
        "database": args.db,
        "root_ca": args.root_ca,
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "upstream": upstream,
        "source": source if upstream else None,
        "api_key": getattr(args, "api_key", None),
        "upstream_ca": tls_verification(args) if getattr(args, "ca_cert", None) else None,
        "issuer": getattr(args, "issuer", None),
        "tenants": _tenants(getattr(args, "tenant", None)),
        "algorithm": getattr(args, "algorithm", None),
        "workers": getattr(args, "workers", None),
        "insecure_http": getattr(args, "insecure_http", None),
    }
    try:
        config = load_config(args.config, overrides=overrides)
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    root = load_root(config.root_ca or None)
    if root is not None and not root.is_intel:
        warn_untrusted_root(root.name)
    return config


def _tenants(value: list[str] | str | None) -> list[str] | None:
    """``--tenant`` of serve (repeatable) or rotate-key (one name; the root tenant when empty)."""
    if isinstance(value, str):
        return [value] if value else None
    return value


def run_serve(args: argparse.Namespace) -> int:
    from pydcap.attest.server import serve
    from pydcap.cache import StoreError

    config = _config(args)
    try:
        serve(config)
    except (StoreError, OSError) as exc:
        raise CliError(str(exc)) from exc
    return EXIT_OK


def run_cert(args: argparse.Namespace) -> int:
    from pydcap.attest.server import tls_files

    config = _config(args)
    if config.insecure_http:
        raise CliError("this configuration serves plain HTTP (insecure_http): it has no TLS certificate")
    try:
        tls = tls_files(config)
        assert tls is not None
        sys.stdout.write(tls.cert.read_text())
    except OSError as exc:
        raise CliError(f"cannot read or make the TLS certificate: {exc}") from exc
    err.print(f"SHA-256 fingerprint {tls.fingerprint}", markup=False)
    return EXIT_OK


def run_rotate(args: argparse.Namespace) -> int:
    import asyncio

    from pydcap.attest.service import AttestService
    from pydcap.cache import StoreError

    config = _config(args)
    try:
        service = AttestService.from_config(config, issuer=config.issuer_url())
    except StoreError as exc:
        raise CliError(str(exc)) from exc
    try:
        key = service.rotate(args.tenant)
    finally:
        asyncio.run(service.aclose())
    out.print(f"signing with key {key.kid} ({key.algorithm}) from now on; earlier keys stay published until expiry")
    return EXIT_OK


def _read_token(value: str) -> str:
    if value == "-":
        return sys.stdin.read().strip()
    if value.count(".") == 2 and "/" not in value:  # a compact JWS has no slash (base64url)
        return value.strip()
    try:
        return Path(value).read_text().strip()
    except OSError as exc:
        raise CliError(f"TOKEN {value!r} is neither a token nor a readable file: {exc.strerror}") from exc


def run_verify(args: argparse.Namespace) -> int:
    from pydcap.attest.client import IssuerError, IssuerUnreachableError, TokenError, verify_token

    token = _read_token(args.token)
    try:
        claims = verify_token(token, args.issuer, ca_cert=args.ca_cert, nonce=args.nonce)
    except TokenError as exc:
        if args.json:
            print_json({"valid": False, "error": str(exc)})
        err.print(f"token rejected: {exc}", markup=False)
        return EXIT_REJECTED
    except IssuerUnreachableError as exc:
        raise CliError(f"--issuer {args.issuer}: {exc}", EXIT_UNAVAILABLE) from exc
    except IssuerError as exc:
        raise CliError(f"--issuer {args.issuer}: {exc}") from exc
    if args.json:
        print_json({"valid": True, "claims": claims})
    else:
        out.print(f"token valid: issued by {claims['iss']}", markup=False)
        for name in sorted(claims):
            out.print(f"  {name}: {claims[name]}", markup=False)
    return EXIT_OK
