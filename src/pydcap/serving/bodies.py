"""Request bodies as pydcap's servers read them (the PCCS's registrations and imports, the attestation service's
evidence and policies): at most a limit of bytes, refused with 413 past it (by ``Content-Length`` before anything
is read, else as the chunks arrive), and JSON refused with a 400 that names the field and where it breaks.
Each service answers ``RequestBodyError`` in its own error shape.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from pydcap.errors import FormatError

Receive = Callable[[], Awaitable[dict[str, Any]]]


class RequestBodyError(FormatError):
    """A request body a server does not take: ``status`` 400 when it cannot be read (the message names what),
    413 when it is larger than the server accepts."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


async def read_body(scope: dict[str, Any], receive: Receive, limit: int, *, server: str = "this server") -> bytes:
    """The whole body of the request ``scope`` (ASGI), of at most ``limit`` bytes; ``RequestBodyError`` else
    (``server`` names who refuses, in the message)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            if not value.isdigit():
                raise RequestBodyError("Content-Length is not a number")
            if len(value) > 18 or int(value) > limit:  # int() refuses very long digit strings
                raise RequestBodyError(
                    f"the body is {value.decode()} bytes; {server} accepts at most {limit}", status=413
                )
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RequestBodyError("the client went away before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestBodyError(f"the body is over {limit} bytes, the most {server} accepts", status=413)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def parse_json(data: bytes | str, name: str = "the request body") -> Any:
    """``data`` read as JSON (RFC 8259: UTF-8, no NaN or Infinity); ``RequestBodyError`` (400) naming ``name`` and,
    for a syntax error, the line and column."""
    try:
        return json.loads(data, parse_constant=_not_a_number)
    except json.JSONDecodeError as exc:
        raise RequestBodyError(f"{name} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except UnicodeDecodeError:
        raise RequestBodyError(f"{name} is not JSON: it is not UTF-8 text") from None
    except ValueError as exc:  # NaN, Infinity
        raise RequestBodyError(f"{name} is not JSON: {exc}") from None
    except RecursionError:
        raise RequestBodyError(f"{name} is not JSON a server reads: it nests too deeply") from None
