"""QCNL's ``local_cache_only`` mode: PCK certificates only from pre-populated cache files named
``<QE-ID>_<PCE-ID>`` (else ``0000000000000000_0000``), as Intel's PCS client tool writes them, and the
certificate for the platform picked locally by Intel's PCK certificate selection.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from pydcap.cache.errors import UntrustedCollateralError
from pydcap.intel import EntryKey
from pydcap.provider import codes
from pydcap.provider.errors import MalformedResponse, error_for
from pydcap.provider.interface import LogLevel, PckCertChain, PlatformId
from pydcap.provider.qcnl.admission import QcnlAdmission
from pydcap.provider.qcnl.cache import QcnlCache
from pydcap.provider.qcnl.cache_item import CorruptCacheItem, ItemHeader, read_fields
from pydcap.provider.qcnl.pck_selection import PckSelectionError, select_pck
from pydcap.provider.source_errors import provider_error

DEFAULT_FILE = "0000000000000000_0000"  # what the tool writes when it did not know the platform's CPUSVN
_HEX_COMPONENTS = re.compile(rb"[0-9a-fA-F]{32}")
# Failures that depend on the request, not on the file: the file stays (Intel's library deletes it).
_KEEP_FILE = frozenset(
    {"PCK_CERT_SELECT_PCK_NOT_FOUND", "PCK_CERT_SELECT_INVALID_TCB_PCEID", "PCK_CERT_SELECT_INVALID_PCK_PCEID"}
)

Say = Callable[[LogLevel, str], None]


def local_file_name(platform: PlatformId) -> str:
    """QE-ID and PCE-ID (its two bytes as in memory, little-endian) in lowercase hex, as Intel names the file."""
    return f"{platform.qe_id.hex()}_{platform.pce_id_hex}"


@dataclass(frozen=True)
class LocalPckFile:
    """A local PCK cache file: an item of type MULTICERTS holding the platform's TCB components (hex), the
    FMSPC's TCB info, the PCK issuer chain and PCS's ``pckcerts`` answer (URL-encoded PEMs with their TCBm)."""

    expiry: int
    components: bytes
    tcb_info: bytes
    issuer_chain: bytes
    certificates: tuple[tuple[bytes, str], ...]  # (PEM, TCBm)
    skipped: int  # entries without a string "cert" and "tcbm", skipped as Intel's library skips them

    @classmethod
    def parse(cls, value: bytes) -> LocalPckFile:
        header = ItemHeader.read(value)
        components, tcb_info, chain, listing = read_fields(value, 4)
        if not _HEX_COMPONENTS.fullmatch(components):
            raise CorruptCacheItem(f"the TCB components {components[:40]!r} are not 32 hex digits")
        try:
            entries = json.loads(listing)
            issuer_chain = unquote(chain.decode(), errors="strict").encode()
        except (ValueError, RecursionError) as exc:
            raise CorruptCacheItem(f"unreadable certificates or issuer chain: {exc}") from exc
        if not isinstance(entries, list):
            raise CorruptCacheItem("the certificates are not a JSON array")
        certificates = tuple(
            (unquote(e["cert"]).encode(), e["tcbm"])
            for e in entries
            if isinstance(e, dict) and isinstance(e.get("cert"), str) and isinstance(e.get("tcbm"), str)
        )
        return cls(
            header.expiry,
            bytes.fromhex(components.decode()),
            tcb_info,
            issuer_chain,
            certificates,
            len(entries) - len(certificates),
        )


def local_pck_cert_chain(
    cache: QcnlCache, platform: PlatformId, now: float, say: Say, admission: QcnlAdmission
) -> PckCertChain:
    """The platform's PCK certificate chain from its local cache file; ``SGX_QL_ERROR_UNEXPECTED`` (Intel's
    code for every failure of this mode) when there is no file, or it has expired, is corrupt (both deleted)
    or holds no certificate for this platform.

    As Intel's library does, the TCB components come from the file (recorded from the platform when the file
    was made), the PCESVN and PCE-ID from the request; the request's CPUSVN is not used. Unlike it, the chosen
    certificate's chain must verify up to ``admission``'s trust root (``UntrustedCollateral`` otherwise; the
    file is kept: it cannot be fetched again, and may be sound under the root it was made for)."""
    name = local_file_name(platform)
    say(LogLevel.INFO, f"[QCNL] reading the local PCK certificate file {name}")
    value = cache.load(name)
    if value is None:
        say(LogLevel.INFO, f"[QCNL] no local PCK certificate file {name}; trying {DEFAULT_FILE}")
        name, value = DEFAULT_FILE, cache.load(DEFAULT_FILE)
    if value is None:
        where = cache.directory or " or ".join(str(d) for d in cache.candidates)
        detail = f"local_cache_only: no local PCK cache file {local_file_name(platform)} or {DEFAULT_FILE} in {where}"
        raise error_for(codes.ERROR_UNEXPECTED, detail)
    chain = _selected(cache, name, value, platform, now, say)
    key = EntryKey.pck_certificate(platform)
    try:
        admission.check_local_pck(key, chain.pem, chain.tcbm, f"local cache file {name}")
    except UntrustedCollateralError as exc:
        say(LogLevel.ERROR, f"[QCNL] {exc}")
        raise provider_error(exc) from exc
    return chain


def _selected(cache: QcnlCache, name: str, value: bytes, platform: PlatformId, now: float, say: Say) -> PckCertChain:
    """The certificate Intel's selection picks from the file ``name`` holding ``value``, with its chain."""
    try:
        if ItemHeader.read(value).expired(now):
            raise CorruptCacheItem("expired")
        found = LocalPckFile.parse(value)
        if found.skipped:
            say(LogLevel.ERROR, f"[QCNL] {name}: skipped {found.skipped} unreadable certificate entries")
        if not found.issuer_chain:
            raise CorruptCacheItem("the issuer chain is empty")
        say(LogLevel.INFO, "[QCNL] choosing the PCK certificate for the raw TCB")
        pems = [pem for pem, _ in found.certificates]
        pem, tcbm = found.certificates[
            select_pck(found.components, platform.pce_svn, platform.pce_id, found.tcb_info, pems)
        ]
        return PckCertChain.from_tcbm(pem.strip() + b"\n" + found.issuer_chain, tcbm)
    except PckSelectionError as exc:
        if exc.result not in _KEEP_FILE:
            cache.discard(name, f"unusable ({exc})")
        raise error_for(codes.ERROR_UNEXPECTED, f"local_cache_only: {name}: PCK cert selection failed: {exc}") from exc
    except (CorruptCacheItem, MalformedResponse) as exc:
        cache.discard(name, f"expired or corrupt ({exc})")
        raise error_for(codes.ERROR_UNEXPECTED, f"local_cache_only: {name} is expired or corrupt: {exc}") from exc
