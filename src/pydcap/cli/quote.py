"""``pydcap quote show``: every parsed field of a quote, and its PCK certificate's SGX extension."""

from __future__ import annotations

import argparse
from typing import Any

from pydcap.cli import EXIT_OK, CliError
from pydcap.cli.inputs import read_quote
from pydcap.cli.output import number_list, out, print_json, readable
from pydcap.errors import FormatError, QuoteFormatError
from pydcap.pki import CertificateChain, PckCertificate
from pydcap.quote import Quote


def register(sub: Any) -> None:
    p = sub.add_parser("quote", description="Inspect quotes.")
    qsub = p.add_subparsers(dest="quote_command", metavar="SUBCOMMAND", required=True)
    show = qsub.add_parser("show", help="print every field of a quote")
    show.add_argument("quote", metavar="QUOTE", help="quote file ('-' for standard input)")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(handler=run_show)


def describe(quote: Quote) -> dict[str, Any]:
    info = quote.to_dict()
    pck: dict[str, Any] | None = None
    if quote.pck_chain_pem is not None:
        try:
            chain = CertificateChain.parse(quote.pck_chain_pem)
            leaf = chain.find("SGX PCK Certificate")
            if leaf is not None:
                cert = PckCertificate.from_certificate(leaf)
                pck = {
                    "subject": cert.subject_cn,
                    "issuer": cert.issuer_cn,
                    "ca_type": cert.ca_type,
                    "serial": format(cert.serial_number, "x"),
                    "not_after": cert.x509.not_valid_after_utc.isoformat(),
                    "sgx_extension": cert.sgx.to_dict(),
                }
            info["pck_chain"] = [c.subject_cn for c in chain.certificates]
        except FormatError as exc:
            pck = {"error": str(exc)}
    info["pck_certificate"] = pck
    return info


def run_show(args: argparse.Namespace) -> int:
    data = read_quote(args.quote)
    try:
        quote = Quote.parse(data)
    except QuoteFormatError as exc:
        raise CliError(f"QUOTE {args.quote}: {exc}", fields={"offset": exc.offset, "reason": exc.reason}) from exc
    info = describe(quote)
    if args.json:
        print_json(info)
        return EXIT_OK
    _print_tree(info)
    return EXIT_OK


def _print_tree(obj: Any, indent: int = 0) -> None:
    """Nested fields, one per line; numbers lists (TCB components) on one line, booleans as yes/no."""
    pad = "  " * indent
    if isinstance(obj, dict):
        for key, value in obj.items():
            if isinstance(value, dict | list) and value and not number_list(value):
                out.print(f"{pad}[bold]{key}[/]:")
                _print_tree(value, indent + 1)
            else:
                out.print(f"{pad}[bold]{key}[/]: {readable(value)}")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict | list):
                _print_tree(item, indent + 1)
            else:
                out.print(f"{pad}- {readable(item)}")
