"""Asking a source for the document of one entry, and refusing a document older than what is already held.

A replayed, outdated TCB info or CRL is authentic (Intel signed it once) but hides what came after it;
issue numbers and dates only grow, so an answer (or an import) that goes back in them is refused.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydcap.cache.entry import Entry
from pydcap.cache.errors import OutdatedCollateralError
from pydcap.intel import EntryKey, EntryKind, PlatformId
from pydcap.sources.base import CollateralSource
from pydcap.sources.models import Fetched


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


def issue_order(meta: Mapping[str, str]) -> tuple[int, str] | None:
    """(CRL number, thisUpdate) of a CRL or (TCB evaluation data number, issueDate) of a signed document, from
    what admission learnt (``Admission.meta``): both only grow from one issue to the next. ISO 8601 UTC dates
    compare correctly as text. None for what has no issue order (PCK certificates)."""
    for number, date in (("crl_number", "this_update"), ("tcb_evaluation_data_number", "issue_date")):
        if meta.get(number, "").isdigit() and date in meta:
            return int(meta[number]), meta[date]
    return None


def rollback_reason(held: Mapping[str, str], new: Mapping[str, str]) -> str | None:
    """Why the document described by ``new`` is older than the one described by ``held`` (both admission
    facts), or None when it is not older."""
    old, fresh = issue_order(held), issue_order(new)
    if old is None or fresh is None or fresh >= old:
        return None
    return f"it is older than the one already cached (issue {fresh[0]} of {fresh[1]} < issue {old[0]} of {old[1]})"


def refuse_rollback(stored: Entry | None, fetched: Entry) -> None:
    """Refuse a document older than the verified one already held (a replayed, outdated answer or import)."""
    if stored is None:
        return
    reason = rollback_reason(stored.meta, fetched.meta)
    if reason is not None:
        raise OutdatedCollateralError(fetched.key, reason, source=fetched.source)
