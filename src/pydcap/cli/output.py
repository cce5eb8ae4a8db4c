"""Terminal output shared by the commands: one rich console on stdout, one on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def warn_untrusted_root(name: str) -> None:
    err.print(
        f"[bold yellow]WARNING:[/] trusting a root other than Intel's: {name}. "
        "Quotes accepted under it prove nothing about real Intel hardware."
    )
