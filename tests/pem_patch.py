"""Editing a certificate in place inside a quote or a PEM chain: its DER bytes changed (the signatures over them
no longer hold), the PEM re-encoded to the same length so that the quote's sizes stay right."""

from __future__ import annotations

import base64

from pydcap.pki.certs import split_pem_chain


def patch_certificate(data: bytes, index: int, old: bytes, new: bytes) -> bytes:
    """``data`` with the first ``old`` in the DER of its ``index``-th PEM certificate replaced by ``new`` (same size)."""
    assert len(old) == len(new)
    block = split_pem_chain(data)[index]
    start = data.index(block)
    lines = block.split(b"\n")
    der = base64.b64decode(b"".join(lines[1:-1]))
    at = der.index(old)
    der = der[:at] + new + der[at + len(old) :]
    text = base64.b64encode(der)
    patched = b"\n".join([lines[0], *(text[i : i + 64] for i in range(0, len(text), 64)), lines[-1]])
    assert len(patched) == len(block)
    return data[:start] + patched + data[start + len(block) :]
