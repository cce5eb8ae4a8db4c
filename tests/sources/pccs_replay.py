"""A loopback HTTP server that replays what Intel's PCCS said on the wire (``../shared/testdata/pccs-wire``).

Each recorded GET is answered with its recorded status, headers and exact body; anything else gets the
PCCS miss answer (404 "No cache data for this platform."). Tests can add latency, queue one-off answers
(429 with Retry-After, 503, a tampered body) and count what was asked, and stop it to play an outage.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import uvicorn
from starlette.requests import Request
from starlette.responses import Response

from tests.support.testdata import TESTDATA

WIRE = TESTDATA / "pccs-wire"
MISS_BODY = b"No cache data for this platform."


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def _request_key(path: str, query: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return path, tuple(sorted(parse_qsl(query, keep_blank_values=True)))


def load_recordings(wire: Path = WIRE) -> dict[tuple[str, tuple[tuple[str, str], ...]], Answer]:
    recorded = json.loads((wire / "responses.json").read_text())
    out = {}
    for item in recorded.values():
        method, target = item["request"].split(" ", 1)
        assert method == "GET"
        parts = urlsplit(target)
        body = (wire / item["body_file"]).read_bytes()
        out[_request_key(parts.path, parts.query)] = Answer(item["status"], dict(item["headers"]), body)
    return out


@dataclass
class ReplayPccs:
    """``with ReplayPccs() as pccs: PccsClient(pccs.url)``. ``counts`` is keyed by ``path?query``."""

    recordings: dict[tuple[str, tuple[tuple[str, str], ...]], Answer] = field(default_factory=load_recordings)
    latency: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)
    request_headers: list[dict[str, str]] = field(default_factory=list)
    _queued: list[tuple[Callable[[str], bool], Answer]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def queue(self, path_contains: str, answer: Answer, times: int = 1) -> None:
        """Answer the next ``times`` requests whose path contains ``path_contains`` with ``answer``."""
        with self._lock:
            self._queued.extend([(lambda p, s=path_contains: s in p, answer)] * times)

    def tamper(self, path_contains: str, change: Callable[[bytes], bytes], times: int = 1) -> None:
        """Serve the recorded answer with its body changed by ``change``."""
        for (path, query), answer in self.recordings.items():
            if path_contains in f"{path}?{query}" and answer.status == 200:
                self.queue(path_contains, Answer(200, answer.headers, change(answer.body)), times)
                return
        raise AssertionError(f"nothing recorded for {path_contains}")

    def total(self) -> int:
        return sum(self.counts.values())

    def reset(self) -> None:
        """Forget counts, recorded headers, queued answers and latency."""
        with self._lock:
            self.counts.clear()
            self.request_headers.clear()
            self._queued.clear()
            self.latency = 0.0

    async def __call__(self, scope: dict[str, object], receive: object, send: object) -> None:
        request = Request(scope, receive)  # type: ignore[arg-type]
        path, query = request.url.path, request.url.query
        with self._lock:
            self.counts[f"{path}?{query}" if query else path] += 1
            self.request_headers.append(dict(request.headers))
            queued = next((i for i, (match, _) in enumerate(self._queued) if match(path)), None)
            answer = self._queued.pop(queued)[1] if queued is not None else None
        if self.latency:
            await asyncio.sleep(self.latency)
        if answer is None:
            answer = self.recordings.get(
                _request_key(path, query),
                Answer(404, {"Content-Type": "text/html; charset=utf-8"}, MISS_BODY),
            )
        headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
        await Response(answer.body, answer.status, headers=headers)(scope, receive, send)  # type: ignore[arg-type]

    def start(self) -> ReplayPccs:
        config = uvicorn.Config(
            self, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the replay server did not start")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        """Stop serving: the port refuses connections afterwards (an outage). ``start()`` serves again."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._server = None

    def __enter__(self) -> ReplayPccs:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def flip_signature_byte(body: bytes) -> bytes:
    """A served signed document with one hex digit of its signature changed."""
    marker = b'"signature":"'
    at = body.index(marker) + len(marker) + 10
    digit = body[at : at + 1]
    return body[:at] + (b"0" if digit != b"0" else b"1") + body[at + 1 :]
