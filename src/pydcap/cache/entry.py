"""A cache entry: one verified document, when it was fetched, until when it is fresh, where it came from.

``origin`` and ``stale`` describe one answer (not the stored record): ``memory``, ``store`` or ``upstream``,
and whether it was served past its freshness because nothing fresher could be had.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydcap.intel import EntryKey
from pydcap.sources.models import Fetched
from pydcap.trust import Admission

Origin = Literal["memory", "store", "upstream"]


@dataclass(frozen=True)
class Entry:
    """A document that passed verification against the cache's trust root.

    ``data``: DER for CRLs, the served JSON for TCB info and identities, the PEM leaf for a PCK certificate.
    ``issuer_chain``: PEM (empty for the root CA CRL). ``fetched_at`` and ``valid_until`` are unix seconds
    by the cache's clock; ``valid_until`` comes from the document itself (``nextUpdate``, or the earliest
    ``notAfter`` of the certificates involved, whichever is first). ``meta`` holds descriptive text
    (``next_update``, ``tcbm``, ``fmspc``, ``ca_type``, ``request_id``, ...). ``stored_at`` is the wall
    time the store wrote it (0 before it was stored), which tells one write from the next.
    """

    key: EntryKey
    data: bytes
    issuer_chain: bytes
    fetched_at: int
    valid_until: int
    source: str = ""
    meta: Mapping[str, str] = field(default_factory=dict)
    origin: Origin = "store"
    stale: bool = False
    stored_at: float = 0.0

    @property
    def size(self) -> int:
        return len(self.data) + len(self.issuer_chain)

    @classmethod
    def admitted(cls, key: EntryKey, fetched: Fetched, admission: Admission, fetched_at: int) -> Entry:
        """The entry of ``fetched``, which passed verification with ``admission`` (its meta and the facts
        verification learnt, its Request-ID)."""
        meta = {**fetched.meta, **admission.meta}
        if fetched.request_id:
            meta["request_id"] = fetched.request_id
        return cls(
            key=key, data=fetched.data, issuer_chain=fetched.issuer_chain, fetched_at=fetched_at,
            valid_until=admission.valid_until, source=fetched.url, meta=meta, origin="upstream",
        )  # fmt: skip
