"""Servers the tests start as processes: a free port to give them, waiting until one listens, stopping it."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[Any], timeout: float) -> bool:
    """Whether something listens on ``port`` within ``timeout`` seconds (False as soon as ``process`` exits)."""
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
    return False


def stop(process: subprocess.Popen[Any], timeout: float = 10) -> None:
    """SIGINT (a server's clean stop), then SIGKILL after ``timeout`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
