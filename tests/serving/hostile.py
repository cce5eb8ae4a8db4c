"""Hostile clients on loopback, for the tests of every pydcap server: raw sockets that send a request head slowly,
an oversized head, too many connections; and ``Bystander``, an ordinary client asking meanwhile.

Hostile connections come from 127.0.0.2, ordinary clients from 127.0.0.1 (Linux routes all of 127/8 to
loopback), so that per-client limits tell them apart as they would tell apart two machines.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

ATTACKER = "127.0.0.2"
HEAD = b"GET /healthz HTTP/1.1\r\nHost: pydcap\r\n"


def connect(port: int, source: str = ATTACKER) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_answer(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection (or ``timeout`` passes)."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def status_of(answer: bytes) -> int | None:
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and answer.startswith(b"HTTP/1.1 ") else None


def headers_of(answer: bytes) -> dict[str, str]:
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in head if ":" in line)}


def send_and_read(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send ``data`` (in another thread: the server may answer before taking all of it) and read the answer."""
    with connect(port) as sock:
        sender = threading.Thread(target=_send_quietly, args=(sock, data), daemon=True)
        sender.start()
        answer = read_answer(sock, timeout)
        sender.join(timeout)
        return answer


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):  # the server closed the connection: what it answered is what matters
        sock.sendall(data)


@dataclass
class SlowClients:
    """``count`` connections that send a request head one byte every ``interval`` seconds and never finish it."""

    port: int
    count: int
    interval: float
    answers: list[bytes] = field(default_factory=list)
    refused_at_once: int = 0  # connections answered (or closed) before they sent their second byte
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self, seconds: float) -> None:
        """Dribble for up to ``seconds``; every connection the server closed leaves its answer in ``answers``."""
        socks = [connect(self.port) for _ in range(self.count)]
        for s in socks:
            s.setblocking(False)
        started = time.monotonic()
        live = {s: HEAD for s in socks}
        received: dict[socket.socket, bytes] = dict.fromkeys(socks, b"")
        sent: dict[socket.socket, int] = dict.fromkeys(socks, 0)
        try:
            while live and time.monotonic() - started < seconds:
                for s in list(live):
                    closed = False
                    try:
                        while chunk := s.recv(65536):
                            received[s] += chunk
                        closed = True  # b"": the server closed
                    except BlockingIOError:
                        pass
                    except OSError:
                        closed = True
                    if not closed:
                        try:
                            s.send(live[s][:1] or b"X")
                            live[s] = live[s][1:]
                            sent[s] += 1
                        except BlockingIOError:
                            pass
                        except OSError:
                            closed = True
                    if closed:
                        del live[s]
                        self.answers.append(received[s])
                        if sent[s] <= 1:
                            self.refused_at_once += 1
                time.sleep(self.interval)
        finally:
            for s in socks:
                s.close()

    @property
    def still_open(self) -> int:
        return self.count - len(self.answers)


class Bystander:
    """An ordinary client (from 127.0.0.1) asking ``url`` in a loop; ``answered`` and ``failed`` count its requests.
    Each request may take up to ``timeout`` seconds: a server that stalls fails it."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self.answered = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        transport = httpx.HTTPTransport(local_address="127.0.0.1", verify=False)
        with httpx.Client(transport=transport, timeout=self.timeout) as client:
            while not self._stop.is_set():
                try:
                    client.get(self.url).raise_for_status()
                    self.answered += 1
                except httpx.HTTPError as exc:
                    self.failed.append(repr(exc))
                self._stop.wait(0.05)

    @contextmanager
    def asking(self) -> Iterator[Bystander]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(self.timeout + 5)
