"""Quotes edited for tests: slack where Intel's parser tolerates it."""

from __future__ import annotations

import struct

from pydcap.quote import Quote


def with_slack(data: bytes, slack: bytes, *, inside_certification_data: bool = False) -> bytes:
    """``data`` with ``slack`` appended to its signature data (optionally inside its outer certification
    data too), every length that covers it enlarged."""
    quote = Quote.parse(data)
    at = len(quote.signed_data)
    (auth_size,) = struct.unpack_from("<I", data, at)
    out = bytearray(data[: at + 4 + auth_size] + slack + data[at + 4 + auth_size :])
    struct.pack_into("<I", out, at, auth_size + len(slack))
    if inside_certification_data:
        outer_size_at = at + 4 + 64 + 64 + 2
        (outer_size,) = struct.unpack_from("<I", out, outer_size_at)
        struct.pack_into("<I", out, outer_size_at, outer_size + len(slack))
    return bytes(out)
