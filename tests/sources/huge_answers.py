"""A loopback HTTP server whose every answer is huge: ``size`` bytes streamed in 64 KiB chunks, with or without a
Content-Length, optionally gzip-compressed (a small transfer that unpacks to ``size``), with a chosen status.
It counts the bytes it managed to send, to show a client stopped reading."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydcap.serving import ThreadedServer

CHUNK = 64 * 1024


@dataclass
class HugeAnswers:
    size: int = 200 * 1024 * 1024
    status: int = 200
    content_length: bool = False
    gzip: bool = False
    sent: int = 0
    requests: int = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.requests += 1
        headers = [(b"content-type", b"application/json")]
        if self.content_length and not self.gzip:
            headers.append((b"content-length", str(self.size).encode()))
        if self.gzip:
            headers.append((b"content-encoding", b"gzip"))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        for chunk in self._chunks():
            self.sent += len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    def _chunks(self) -> Iterator[bytes]:
        left = self.size
        packer = zlib.compressobj(wbits=31) if self.gzip else None
        while left > 0:
            piece = b"{" * min(CHUNK, left)
            left -= len(piece)
            yield piece if packer is None else packer.compress(piece)
        if packer is not None:
            yield packer.flush()


@contextmanager
def huge_answers(**settings: Any) -> Iterator[tuple[str, HugeAnswers]]:
    app = HugeAnswers(**settings)
    server = ThreadedServer(app, "127.0.0.1", 0)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}", app
    finally:
        server.stop()
