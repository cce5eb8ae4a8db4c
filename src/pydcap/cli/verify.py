"""``pydcap verify``: appraise a quote with collateral and print the verdict."""

from __future__ import annotations

import argparse
from typing import Any

from pydcap.cli import EXIT_OK, EXIT_REJECTED, CliError
from pydcap.cli.collateral import add_service_arguments, fetch_for_quote, wants_service
from pydcap.cli.inputs import load_collateral, load_root, parse_time, read_quote
from pydcap.cli.output import out, print_json, warn_untrusted_root
from pydcap.collateral import Collateral
from pydcap.pki import TrustRoot
from pydcap.policy import Policy
from pydcap.verify import VerificationResult, Verifier
from pydcap.verify.result import iso

EXIT_STATUSES = """exit status:
  0  accepted
  1  rejected: a verification failure (Intel's status name) or the policy (every reason is listed)
  2  usage or unreadable input (missing or empty file or directory, bad --at, bad --root-ca)
  3  collateral unavailable: the service could not be reached or trusted (--pcs, --pccs, --azure)
  4  internal error in pydcap (please report it; PYDCAP_DEBUG=1 shows the traceback)
With --json, an error is printed as {"error": "...", "exit_code": N} on standard output."""


def hex_value(text: str) -> str:
    """argparse type of an expected measurement: hex digits (argparse names the flag when it is not)."""
    try:
        bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not hex") from None
    return text


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "verify",
        description="Verify an SGX or TDX quote as Intel's verifier does, then apply a policy.",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("quote", metavar="QUOTE", help="quote file ('-' for standard input)")
    src = p.add_argument_group("collateral")
    src.add_argument("--collateral", metavar="PATH", help="collateral directory or JSON file")
    add_service_arguments(p)
    p.add_argument("--at", metavar="TIME", help="verify at this time (unix seconds or ISO 8601; default now)")
    p.add_argument("--root-ca", metavar="PEM", help="trust this root instead of Intel's (prints a warning)")
    pol = p.add_argument_group("policy")
    pol.add_argument(
        "--accept",
        metavar="STATUS",
        action="append",
        help="accept this TCB status (repeatable; default UpToDate only)",
    )
    pol.add_argument("--allow-expired", action="store_true", help="accept expired collateral")
    pol.add_argument("--allow-debug", action="store_true", help="accept debug enclaves and TDs")
    pol.add_argument("--mrenclave", metavar="HEX", type=hex_value, help="expected MRENCLAVE (SGX)")
    pol.add_argument("--mrsigner", metavar="HEX", type=hex_value, help="expected MRSIGNER (SGX)")
    pol.add_argument("--isvprodid", metavar="N", type=int, help="expected ISVPRODID (SGX)")
    pol.add_argument("--min-isvsvn", metavar="N", type=int, help="lowest accepted ISVSVN (SGX)")
    pol.add_argument("--mrtd", metavar="HEX", type=hex_value, help="expected MRTD (TDX)")
    pol.add_argument("--report-data", metavar="HEX", type=hex_value, help="expected REPORTDATA (or a prefix of it)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run)


def resolve_collateral(args: argparse.Namespace, quote: bytes, root: TrustRoot | None, at: int | None) -> Collateral:
    """From ``--collateral``, or fetched through the cache from ``--pcs``, ``--pccs`` or ``--azure``."""
    if args.collateral:
        if wants_service(args):
            raise CliError("give either --collateral PATH or a collateral service (--pcs, --pccs, --azure), not both")
        return load_collateral(args.collateral)
    if not wants_service(args):
        raise CliError("give --collateral PATH, or a collateral service: --pcs [URL], --pccs [URL] or --azure [URL]")
    return fetch_for_quote(args, quote, root, at).collateral


def policy_from_args(args: argparse.Namespace) -> Policy:
    return Policy(
        accepted_statuses=frozenset(args.accept or ["UpToDate"]),
        allow_expired_collateral=args.allow_expired,
        allow_debug=args.allow_debug,
        mr_enclave=args.mrenclave,
        mr_signer=args.mrsigner,
        isv_prod_id=args.isvprodid,
        min_isv_svn=args.min_isvsvn,
        mr_td=args.mrtd,
        report_data=args.report_data,
    )


def run(args: argparse.Namespace) -> int:
    quote = read_quote(args.quote)
    root = load_root(args.root_ca)
    if root is not None and not root.is_intel:
        warn_untrusted_root(root.name)
    at = parse_time(args.at)
    try:
        policy = policy_from_args(args)
    except ValueError as exc:  # measurements are checked by argparse: this is an --accept that is no TCB status
        raise CliError(f"--accept: {exc}") from exc
    collateral = resolve_collateral(args, quote, root, at)
    result = Verifier(trusted_root=root, policy=policy).verify(quote, collateral, at=at)
    if args.json:
        print_json(result.to_dict())
    else:
        print_verdict(result)
    return EXIT_OK if result.accepted else EXIT_REJECTED


def print_verdict(result: VerificationResult) -> None:
    verdict = "[bold green]ACCEPTED[/]" if result.accepted else "[bold red]REJECTED[/]"
    tee = f"{result.tee} quote v{result.quote_version}" if result.quote else "quote"
    out.print(f"{verdict}  {tee}  at {iso(result.verified_at)}")
    out.print(f"  Intel result : {result.quote3_error.value}, {result.qv_result.value}")
    if result.failure is not None:
        out.print(f"  failure      : {result.failure.value}: {result.detail}")
    else:
        out.print(f"  TCB status   : {result.detail}")
    if result.advisory_ids:
        out.print(f"  advisories   : {', '.join(result.advisory_ids)}")
    if result.supplemental is not None:
        s = result.supplemental
        expiry = "EXPIRED" if result.collateral_expired else "valid"
        out.print(f"  collateral   : {expiry} (earliest expiry {iso(s.earliest_expiration_date)})")
        out.print(f"  platform     : FMSPC {s.fmspc.hex()}, {s.ca_type} CA, {s.sgx_type}")
    if not result.root_is_intel:
        out.print(f"  [yellow]trust root   : {result.trusted_root} (not Intel's)[/]")
    for reason in result.reasons:
        out.print(f"  [red]-[/] {reason}")
