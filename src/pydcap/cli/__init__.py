"""The ``pydcap`` command line: thin commands over the library API.

Each module in this package that defines ``register(subparsers)`` adds its commands; ``main`` finds them
(a command lives in the module of its name, so running one imports only that module).
Exit status: 0 accepted / success, 1 rejected, 2 usage or unreadable input, 3 collateral unavailable.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_COLLATERAL_UNAVAILABLE = 3


class CliError(Exception):
    """A user-facing error: printed as one line, with an exit status."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.status = status


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command, or only the command ``only`` when a module of that name exists."""
    from pydcap import __version__

    parser = argparse.ArgumentParser(prog="pydcap", description="Intel SGX/TDX DCAP attestation toolkit")
    parser.add_argument("--version", action="version", version=f"pydcap {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    names = sorted(m.name for m in pkgutil.iter_modules(__path__))
    if only in names and hasattr(importlib.import_module(f"{__name__}.{only}"), "register"):
        names = [only]
    for name in names:
        register = getattr(importlib.import_module(f"{__name__}.{name}"), "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(args_list[0] if args_list and not args_list[0].startswith("-") else None)
    args = parser.parse_args(args_list)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(handler(args))
    except CliError as exc:
        print(f"pydcap: error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return 130
