"""How every ``pydcap`` command ends: its exit status, and the one-line error (or, with ``--json``, the JSON
object ``{"error": ..., "exit_code": ...}`` on standard output) when it fails.

0 accepted or done, 1 rejected, 2 usage or unreadable input, 3 a service unreachable, 4 internal error (a bug:
one line asking for a report; ``PYDCAP_DEBUG=1`` or ``pydcap --debug`` adds the traceback). A command raises
``CliError(message, status)``, its message naming the flag the user typed; ``main`` reports it with ``report``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_INTERNAL = 4
EXIT_COLLATERAL_UNAVAILABLE = EXIT_UNAVAILABLE  # the name before any service but collateral had one

DEBUG_ENV = "PYDCAP_DEBUG"


class CliError(Exception):
    """A user-facing error: printed as one line, with an exit status; ``fields`` go into its JSON form too."""

    def __init__(self, message: str, status: int = EXIT_USAGE, fields: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.fields = dict(fields or {})


class UsageError(CliError):
    """The command line itself is wrong (argparse's complaint); ``parser`` prints the usage line."""

    def __init__(self, message: str, parser: argparse.ArgumentParser) -> None:
        super().__init__(message, EXIT_USAGE)
        self.parser = parser


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad command line raises ``UsageError`` (reported like any other error, JSON too)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self)


def wants_json(argv: Sequence[str], args: argparse.Namespace | None) -> bool:
    """``--json`` was asked for: parsed, or (when parsing failed) typed before any ``--``."""
    if args is not None:
        return bool(getattr(args, "json", False))
    words = list(argv)
    return "--json" in (words[: words.index("--")] if "--" in words else words)


def debugging(args: argparse.Namespace | None) -> bool:
    return bool(getattr(args, "debug", False)) or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def as_cli_error(exc: BaseException) -> CliError:
    """What an exception that escaped a command means to the user. pydcap's own errors are input (2) or an
    unavailable service (3); anything else is a bug in pydcap (4)."""
    if isinstance(exc, CliError):
        return exc
    from pydcap.errors import PydcapError

    if isinstance(exc, PydcapError):
        from pydcap.errors import CollateralError

        status = EXIT_UNAVAILABLE if isinstance(exc, CollateralError) else EXIT_USAGE
        return CliError(str(exc), status)
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return CliError(
        f"internal error: {' '.join(what.split())}. This is a bug in pydcap: please report it with the command "
        f"that caused it ({DEBUG_ENV}=1 shows the traceback)",
        EXIT_INTERNAL,
    )


def report(error: CliError, *, json_output: bool, prog: str = "pydcap") -> int:
    """Print ``error`` once (stderr; stdout as JSON with ``--json``) and return its exit status."""
    if json_output:
        sys.stdout.write(json.dumps({"error": str(error), "exit_code": error.status, **error.fields}) + "\n")
        sys.stdout.flush()
    else:
        if isinstance(error, UsageError):
            error.parser.print_usage(sys.stderr)
            prog = error.parser.prog
        print(f"{prog}: error: {error}", file=sys.stderr)
    return error.status


def report_unexpected(exc: BaseException, *, json_output: bool, debug: bool) -> int:
    """An exception no command expected: its traceback only when debugging, then the one-line error."""
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    return report(as_cli_error(exc), json_output=json_output)
