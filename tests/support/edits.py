"""Random edits of encoded input for property tests: bytes set, inserted or removed."""

from __future__ import annotations

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
