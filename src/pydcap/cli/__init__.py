"""The ``pydcap`` command line: thin commands over the library API.

Each module in this package that defines ``register(subparsers)`` adds its commands; ``main`` finds them.
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


def build_parser() -> argparse.ArgumentParser:
    from pydcap import __version__

    parser = argparse.ArgumentParser(prog="pydcap", description="Intel SGX/TDX DCAP attestation toolkit")
    parser.add_argument("--version", action="version", version=f"pydcap {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
