"""Who holds a lease: host, process id and a random part, so that a dead holder on this host is seen at once.

A lease held by a process on another host can only expire; one held by a process of this host that no
longer runs (or is a zombie) is free immediately.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LeaseHolder:
    owner: str
    expires_at: float


def new_owner() -> str:
    """A lease owner name: host, process id and a random part (one per cache instance)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def owner_is_dead(owner: str) -> bool:
    """True when ``owner`` is a process on this host that no longer runs (or is a zombie)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]
