"""Edits of encoded input for property and mutation tests: random bytes set, inserted or removed; and every byte
changed, for readers of a fixed layout."""

from __future__ import annotations

import random

from hypothesis import strategies as st


def edited(raw: bytes, data: st.DataObject, most: int = 3) -> bytes:
    """``raw`` with one to ``most`` edits drawn from ``data``, each a byte set, inserted or removed anywhere."""
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, most))):
        at = data.draw(st.integers(0, len(out) - 1))
        kind = data.draw(st.sampled_from(["set", "insert", "delete"]))
        if kind == "set":
            out[at] = data.draw(st.integers(0, 255))
        elif kind == "insert":
            out.insert(at, data.draw(st.integers(0, 255)))
        else:
            del out[at]
    return bytes(out)


def mutants(encoded: bytes, rng: random.Random) -> list[bytes]:
    """Deterministic edits of a DER certificate or CRL: every byte changed three ways, each character of its first two
    UTCTimes replaced (and whole dates at the edges of what is valid), truncations, a byte more and a byte fewer."""
    out = []
    for at in range(len(encoded)):
        for value in {encoded[at] ^ 0x01, encoded[at] ^ 0x80, rng.randrange(256)}:
            out.append(encoded[:at] + bytes([value]) + encoded[at + 1 :])
    times = [at for at in range(len(encoded) - 15) if encoded[at : at + 2] == b"\x17\x0d"][:2]
    for start in times:
        for at in range(start + 2, start + 15):
            for char in b"0123456789Z /:+-":
                out.append(encoded[:at] + bytes([char]) + encoded[at + 1 :])
        for text in (b"240229000000Z", b"230229000000Z", b"491231235959Z", b"500101000000Z", b"241231235960Z"):
            out.append(encoded[: start + 2] + text + encoded[start + 15 :])
    out += [encoded[:cut] for cut in range(0, len(encoded), 7)]
    out += [encoded + b"\x00", encoded[:-1]]
    return out
