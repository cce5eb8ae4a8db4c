"""Asking a source for the document of one entry, and refusing an answer older than what is already held.

A replayed, outdated TCB info or CRL is authentic (Intel signed it once) but hides what came after it;
issue numbers and dates only grow, so an answer that goes back in them is refused.
"""

from __future__ import annotations

from pydcap.cache.entry import Entry
from pydcap.cache.errors import UntrustedCollateralError
from pydcap.cache.keys import EntryKey, EntryKind
from pydcap.sources.base import CollateralSource
from pydcap.sources.models import Fetched, PlatformId


async def fetch_document(key: EntryKey, source: CollateralSource, platform: PlatformId | None) -> Fetched:
    kind = key.kind
    if kind is EntryKind.ROOT_CA_CRL:
        return await source.root_ca_crl()
    if kind is EntryKind.PCK_CRL:
        assert key.ca is not None
        return await source.pck_crl(key.ca)
    if kind is EntryKind.TCB_INFO:
        assert key.tee is not None and key.fmspc is not None
        return await source.tcb_info(key.tee, bytes.fromhex(key.fmspc), key.update)
    if kind is EntryKind.QE_IDENTITY:
        assert key.tee is not None
        return await source.qe_identity(key.tee, key.update)
    if kind is EntryKind.QVE_IDENTITY:
        return await source.qve_identity(key.update)
    return await source.pck_certificate(platform if platform is not None else key.platform_id())


def _issue_order(entry: Entry) -> tuple[int, str] | None:
    """(CRL number, thisUpdate) of a CRL or (TCB evaluation data number, issueDate) of a signed document:
    both only grow from one issue to the next. ISO 8601 UTC dates compare correctly as text."""
    meta = entry.meta
    for number, date in (("crl_number", "this_update"), ("tcb_evaluation_data_number", "issue_date")):
        if meta.get(number, "").isdigit() and date in meta:
            return int(meta[number]), meta[date]
    return None


def refuse_rollback(stored: Entry | None, fetched: Entry) -> None:
    """Refuse a document older than the verified one already held (a replayed, outdated answer)."""
    if stored is None:
        return
    old, new = _issue_order(stored), _issue_order(fetched)
    if old is not None and new is not None and new < old:
        raise UntrustedCollateralError(
            fetched.key,
            f"it is older than the one already cached (issue {new[0]} of {new[1]} < issue {old[0]} of {old[1]})",
            source=fetched.source,
        )
