"""``pydcap verify``: appraise quotes with collateral and print the verdicts (many quotes: ``cli/batch.py``)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from pydcap.cli import EXIT_OK, EXIT_REJECTED, CliError
from pydcap.cli.batch import default_jobs, fetch_bundles, load_bundles, read_inputs, run_batch
from pydcap.cli.collateral import add_service_arguments, fetch_for_quote, wants_service
from pydcap.cli.inputs import load_root, parse_time, read_quote
from pydcap.cli.output import out, print_json, warn_untrusted_root
from pydcap.intel import iso
from pydcap.policy import Policy
from pydcap.verify import VerificationResult, Verifier

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
        description="Verify SGX and TDX quotes as Intel's verifier does, then apply a policy.",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "quote",
        metavar="QUOTE",
        nargs="+",
        help="quote file ('-' for standard input), directory of quote files, or JSON-lines batch "
        '({"quote": "<base64>", "id": "..."} per line)',
    )
    src = p.add_argument_group("collateral")
    src.add_argument(
        "--collateral",
        metavar="PATH",
        action="append",
        help="collateral directory or JSON file, or a directory of them (repeatable: each quote takes the one for "
        "its TEE, FMSPC and CA)",
    )
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
    p.add_argument("--json", action="store_true", help="print one JSON object (one per line for many quotes)")
    p.add_argument(
        "--jobs",
        metavar="N",
        type=_positive,
        help=f"processes to verify many quotes with (default: the number of cores, {default_jobs()} here)",
    )
    p.set_defaults(handler=run)


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
    one = len(args.quote) == 1 and args.jobs is None and not Path(args.quote[0]).is_dir()
    first = read_quote(args.quote[0]) if one else None
    root = load_root(args.root_ca)
    if root is not None and not root.is_intel:
        warn_untrusted_root(root.name)
    at = parse_time(args.at)
    try:
        policy = policy_from_args(args)
    except ValueError as exc:  # measurements are checked by argparse: this is an --accept that is no TCB status
        raise CliError(f"--accept: {exc}") from exc
    if args.collateral and wants_service(args):
        raise CliError("give either --collateral PATH or a collateral service (--pcs, --pccs, --azure), not both")
    if not args.collateral and not wants_service(args):
        raise CliError("give --collateral PATH, or a collateral service: --pcs [URL], --pccs [URL] or --azure [URL]")
    bundles = load_bundles(args.collateral) if args.collateral else []
    if first is not None and first[:1] != b"{" and len(bundles) <= 1:
        collateral = bundles[0] if bundles else fetch_for_quote(args, first, root, at).collateral
        result = Verifier(trusted_root=root, policy=policy).verify(first, collateral, at=at)
        if args.json:
            print_json(result.to_dict())
        else:
            print_verdict(result)
        return EXIT_OK if result.accepted else EXIT_REJECTED
    inputs = read_inputs(args.quote, stdin=first)
    at = int(time.time()) if at is None else at  # one time for the whole batch
    if bundles:
        chosen: list[int | str | None] = [None] * len(inputs)
    else:
        bundles, chosen = fetch_bundles(args, inputs, root, at)
    return run_batch(
        inputs,
        bundles,
        chosen,
        root_pem=Path(args.root_ca).read_bytes() if args.root_ca else None,
        policy=policy,
        at=at,
        jobs=args.jobs or default_jobs(),
        as_json=args.json,
    )


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"--jobs needs a whole number of processes, at least 1, not {value!r}")
    return number


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
