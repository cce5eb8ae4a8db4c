"""Talking to a service from the command line: ``--ca-cert PEM`` (as curl's ``--cacert``) and ``--insecure`` for
its TLS certificate, and what a failure to reach it means to the user (exit status 3, one line; an untrusted
certificate is said to be one, naming ``--ca-cert``). Every command that talks to a service uses these.
"""

from __future__ import annotations

import argparse
import ssl
from typing import Any

from pydcap.cli.errors import EXIT_UNAVAILABLE, CliError
from pydcap.cli.output import err


def add_tls_arguments(parser: Any, what: str = "the service", *, insecure: bool = True, setting: str = "") -> None:
    """``--ca-cert PEM`` (and ``--insecure`` unless ``insecure`` is False) on ``parser`` (a parser or an argument
    group) for ``what``; ``setting`` names the configuration key the flag sets, if any."""
    parser.add_argument(
        "--ca-cert",
        metavar="PEM",
        help=f"trust {what}'s TLS certificate if this PEM file (its CA, or the certificate itself) vouches for it, "
        f"as curl's --cacert{f' ({setting})' if setting else ''}",
    )
    if not insecure:
        return
    parser.add_argument(
        "--insecure",
        action="store_true",
        help=f"do not check {what}'s TLS certificate at all (prints a warning; collateral signatures still are)",
    )


def tls_verification(args: argparse.Namespace) -> bool | str:
    """What ``HttpSettings.verify_tls`` should be: True (the system's CAs), the ``--ca-cert`` file, or False for
    ``--insecure`` (announced). A ``--ca-cert`` that is not a readable PEM certificate is refused here, once."""
    ca_cert: str | None = getattr(args, "ca_cert", None)
    if ca_cert and getattr(args, "insecure", False):
        raise CliError("give either --ca-cert PEM or --insecure, not both")
    if getattr(args, "insecure", False):
        err.print(
            "[bold yellow]WARNING:[/] --insecure: the service's TLS certificate is not checked, so anyone on the "
            "network path can answer in its name (collateral signatures are still checked). Prefer --ca-cert PEM."
        )
        return False
    if not ca_cert:
        return True
    try:
        ssl.create_default_context(cafile=ca_cert)
    except FileNotFoundError as exc:
        raise CliError(f"--ca-cert {ca_cert}: no such file") from exc
    except OSError as exc:  # ssl.SSLError included: not PEM, or no certificate in it
        reason = exc.strerror or getattr(exc, "reason", None) or str(exc)
        raise CliError(f"--ca-cert {ca_cert}: not a PEM certificate file ({reason})") from exc
    return ca_cert


def unavailable(exc: Exception, what: str = "collateral unavailable") -> CliError:
    """The one-line error (exit status 3) for a service that could not be used: an untrusted TLS certificate is
    named as such, with the flag that fixes it."""
    from pydcap.sources.errors import TlsVerificationError

    if isinstance(exc, TlsVerificationError):
        return CliError(
            f"{exc.url}: {exc.detail}. Give the certificate that vouches for it with --ca-cert PEM (for a pydcap "
            "PCCS: the file 'pydcap pccs cert --path' names), or --insecure to skip the check",
            EXIT_UNAVAILABLE,
        )
    return CliError(f"{what}: {exc}", EXIT_UNAVAILABLE)
