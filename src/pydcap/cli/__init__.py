"""The ``pydcap`` command line: thin commands over the library API.

``COMMANDS`` lists the commands; each lives in the module of its name here, whose ``register(subparsers)`` adds
it. Running a command imports only its module, and ``pydcap --help`` none of them. How commands end (exit
statuses, errors as one line or as JSON, internal errors) is ``pydcap.cli.errors``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from pydcap.cli.errors import (
    EXIT_COLLATERAL_UNAVAILABLE,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    ArgumentParser,
    CliError,
    debugging,
    report,
    report_unexpected,
    wants_json,
)

__all__ = [
    "COMMANDS",
    "EXIT_COLLATERAL_UNAVAILABLE",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_REJECTED",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "CliError",
    "build_parser",
    "main",
]

# name -> the line ``pydcap --help`` shows; a new command adds its module and a line here.
COMMANDS: dict[str, str] = {
    "verify": "verify a quote (exit status 0 accepted, 1 rejected; see pydcap verify --help)",
    "quote": "inspect quotes",
    "collateral": "fetch verification collateral",
    "cache": "inspect or clear the collateral cache",
    "pccs": "run or administer the caching service (Intel PCCS compatible)",
    "attest": "run the attestation service (Microsoft Azure Attestation's API) or verify its tokens",
    "provider": "list the quote providers and show the one that serves",
    "doctor": "diagnose this machine's attestation setup",
    "sim": "a simulated Intel: PCS server, quotes and collateral",
    "demo": "run the demonstration (simulated Intel, PCCS, enclaves; no hardware)",
}


class _Version(argparse.Action):
    """``--version``, reading the version only when asked (importing pydcap is not free)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print pydcap's version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from pydcap import __version__

        print(f"pydcap {__version__}")
        parser.exit()


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser: the command ``only`` in full and the others by name, or every command in full (None)."""
    parser = ArgumentParser(
        prog="pydcap",
        description="Intel SGX/TDX DCAP attestation toolkit. Exit status: 0 accepted or done, 1 rejected, 2 usage "
        "or unreadable input, 3 a service unreachable, 4 internal error. With --json, errors are JSON too.",
    )
    parser.add_argument("--version", action=_Version)
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an internal error (or set PYDCAP_DEBUG=1)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        if only is None or name == only:
            importlib.import_module(f"{__name__}.{name}").register(sub)
        else:
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The command named on the command line (the first word that is not an option), if it is one."""
    words = [w for w in argv if not w.startswith("-")]
    return words[0] if words and words[0] in COMMANDS else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pydcap`` with ``argv`` (default: the process's arguments) and return the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    args: argparse.Namespace | None = None
    try:
        args = build_parser(_command(args_list) or "").parse_args(args_list)
        handler = getattr(args, "handler", None)
        if handler is None:
            build_parser("").print_help()
            return EXIT_USAGE
        return int(handler(args))
    except CliError as exc:
        return report(exc, json_output=wants_json(args_list, args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (``pydcap ... | head``): nothing left to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second complaint at exit
        return 141
    except Exception as exc:
        return report_unexpected(exc, json_output=wants_json(args_list, args), debug=debugging(args))
