"""PCK certificates of platforms: fetched all at once (PCS ``pckcerts``), verified, stored, and the one for
each raw TCB chosen by Intel's selection rule; registration (``POST platforms``) in each caching mode.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydcap.cache import EntryKey, UntrustedCollateralError, admit
from pydcap.collateral import TcbInfo
from pydcap.errors import FormatError
from pydcap.pccs import tables
from pydcap.pccs.config import CachingMode
from pydcap.pccs.errors import InvalidRequest, NotCached, PccsError, PlatformUnknown, UpstreamFailed
from pydcap.pccs.queries import PckCertQuery
from pydcap.pccs.registry import CertificateRecord, PlatformRecord, RawTcb, Registration
from pydcap.pccs.selection import SelectionError, Tcb, select_certificate
from pydcap.pki import Certificate, PckCertificate
from pydcap.sources.errors import CollateralUnavailableError
from pydcap.sources.models import FetchedPckCertificates, PckCa, Tee, Update
from pydcap.verify.names import Failure

if TYPE_CHECKING:
    from pydcap.pccs.service import PccsService

log = logging.getLogger("pydcap.pccs")


@dataclass(frozen=True)
class PckAnswer:
    """What ``GET pckcert`` answers: the PEM leaf and the ``SGX-*`` headers."""

    cert: bytes
    tcbm: str
    fmspc: str
    ca: str
    issuer_chain: bytes


@dataclass(frozen=True)
class Candidate:
    record: CertificateRecord
    pck: PckCertificate

    @property
    def tcb(self) -> Tcb:
        return Tcb(self.pck.sgx.tcb.components, self.pck.sgx.tcb.pce_svn)


def raw_tcb_of(option_tcb: object) -> RawTcb | None:
    """The raw TCB of a PCS ``pckcerts`` entry's ``tcb`` object (``sgxtcbcomp01svn``... ``pcesvn``)."""
    if not isinstance(option_tcb, dict):
        return None
    try:
        comps = bytes(int(option_tcb[f"sgxtcbcomp{i:02d}svn"]) for i in range(1, 17))
        pce_svn = int(option_tcb["pcesvn"])
    except (KeyError, TypeError, ValueError):
        return None
    return RawTcb(comps.hex().upper(), pce_svn.to_bytes(2, "little").hex().upper())


def candidates_of(records: Sequence[CertificateRecord], pce_id: str, info: TcbInfo) -> list[Candidate]:
    """The certificates, checked as Intel's selection checks its input (version 3, PCE-ID, FMSPC, one PPID)."""
    if info.pce_id.hex().upper() != pce_id:
        raise SelectionError(f"the TCB info is for PCE-ID {info.pce_id.hex().upper()}, the platform's is {pce_id}")
    out: list[Candidate] = []
    ppid: bytes | None = None
    for record in records:
        try:
            pck = PckCertificate.from_certificate(Certificate.from_pem(record.cert))
        except FormatError as exc:
            raise SelectionError(f"a stored PCK certificate cannot be read: {exc}") from None
        if pck.x509.version.value != 2:  # X.509 v3
            raise SelectionError("a PCK certificate is not an X.509 v3 certificate")
        if pck.pce_id.hex().upper() != pce_id:
            raise SelectionError(f"a PCK certificate is for PCE-ID {pck.pce_id.hex().upper()}, not {pce_id}")
        if pck.fmspc != info.fmspc:
            raise SelectionError(f"a PCK certificate has FMSPC {pck.fmspc.hex().upper()}, the TCB info another")
        if ppid is not None and pck.sgx.ppid != ppid:
            raise SelectionError("the platform's PCK certificates do not all have the same PPID")
        ppid = pck.sgx.ppid
        out.append(Candidate(record, pck))
    return out


def select(raw: RawTcb, records: Sequence[CertificateRecord], pce_id: str, info: TcbInfo) -> CertificateRecord:
    candidates = candidates_of(records, pce_id, info)
    levels = [Tcb(level.sgx_components, level.pce_svn) for level in info.tcb_levels]
    raw_tcb = Tcb.from_raw(bytes.fromhex(raw.cpu_svn), int.from_bytes(bytes.fromhex(raw.pce_svn), "little"))
    chosen = select_certificate(raw_tcb, levels, [(c.tcb, c) for c in candidates])
    return chosen.record


class PlatformCertificates:
    """``pckcert``, platform registration and certificate refresh for one ``PccsService``."""

    def __init__(self, service: PccsService) -> None:
        self.service = service
        self.registry = service.registry

    # ---- GET pckcert --------------------------------------------------------------------------------

    async def pck_certificate(self, query: PckCertQuery) -> PckAnswer:
        raw = RawTcb(query.cpu_svn, query.pce_svn)
        platform = await asyncio.to_thread(self.registry.platform, query.qe_id, query.pce_id)
        if platform is not None:
            record = await asyncio.to_thread(self.registry.selected, query.qe_id, query.pce_id, raw)
            if record is None:
                record = await self._select_and_record(platform, raw)
            return _answer(platform, record)
        if self.service.mode is not CachingMode.LAZY:
            how = (
                "register it (POST platforms with its PCK ID, e.g. from Intel's PCKIDRetrievalTool)"
                if self.service.mode is CachingMode.REQ
                else "import its collateral (PUT platformcollateral, pydcap pccs import)"
            )
            raise PlatformUnknown(
                f"QE-ID {query.qe_id} with PCE-ID {query.pce_id} is not a platform this PCCS knows "
                f"({self.service.mode.value} mode): {how}."
            )
        registration = Registration(query.qe_id, query.pce_id, query.cpu_svn, query.pce_svn, query.enc_ppid or "")
        platform = await self.fetch_platform(registration, raw)
        record = await asyncio.to_thread(self.registry.selected, query.qe_id, query.pce_id, raw)
        if record is None:  # selection failed during the fetch: say why
            record = await self._select_and_record(platform, raw)
        return _answer(platform, record)

    async def selection_tcb_info(self, fmspc: str) -> TcbInfo:
        """The SGX TCB info PCK selection uses: the early one when there is one, else the standard one."""
        entry = await self.service.optional_document(EntryKey.tcb_info(Tee.SGX, fmspc, Update.EARLY))
        if entry is None:
            entry = await self.service.optional_document(EntryKey.tcb_info(Tee.SGX, fmspc, Update.STANDARD))
        if entry is None:
            raise NotCached(
                f"No cache data for the SGX TCB info of FMSPC {fmspc}, which PCK certificate selection needs."
            )
        return TcbInfo.parse(entry.data)

    async def _select_and_record(self, platform: PlatformRecord, raw: RawTcb) -> CertificateRecord:
        records = await asyncio.to_thread(self.registry.certificates, platform.qe_id, platform.pce_id)
        if not records:
            raise NotCached(f"No cache data for this platform: no PCK certificate of QE-ID {platform.qe_id} is cached.")
        info = await self.selection_tcb_info(platform.fmspc)
        try:
            record = select(raw, records, platform.pce_id, info)
        except SelectionError as exc:
            raise NotCached(
                f"No PCK certificate of QE-ID {platform.qe_id} fits the raw TCB CPUSVN {raw.cpu_svn} "
                f"PCESVN {raw.pce_svn}: {exc}."
            ) from None
        await asyncio.to_thread(self.registry.record_selection, platform.qe_id, platform.pce_id, raw, record.tcbm)
        return record

    # ---- fetching a platform's certificates --------------------------------------------------------

    async def fetch_platform(self, registration: Registration, raw: RawTcb | None) -> PlatformRecord:
        """Every certificate of the platform from the upstream, verified and stored, with the selection for
        each raw TCB seen so far (and ``raw``)."""
        upstream = self.service.upstream
        if upstream is None:
            raise PlatformUnknown("this PCCS has no upstream (OFFLINE mode) to fetch the platform's certificates from.")
        if not registration.enc_ppid and not registration.platform_manifest:
            raise InvalidRequest(
                f"encrypted_ppid is required: QE-ID {registration.qe_id} is not cached yet, and Intel PCS only "
                "gives a platform's certificates for its encrypted PPID (or platform manifest)"
            )
        if registration.enc_ppid and not registration.platform_manifest and set(registration.enc_ppid) == {"0"}:
            raise NotCached(
                "No cache data for this platform: its encrypted PPID is all zeros (the platform withheld its PPID), "
                "so Intel PCS cannot be asked for its certificates; register it with its real encrypted PPID."
            )
        pce_id = int.from_bytes(bytes.fromhex(registration.pce_id), "little")
        try:
            fetched = await upstream.pck_certificates(
                pce_id=pce_id,
                encrypted_ppid=None if registration.platform_manifest else bytes.fromhex(registration.enc_ppid),
                platform_manifest=bytes.fromhex(registration.platform_manifest) or None,
            )
        except CollateralUnavailableError as exc:
            from pydcap.pccs.service import unavailable

            raise unavailable(f"PCK certificates of QE-ID {registration.qe_id}", exc, self.service.mode) from exc
        return await self._store_platform(registration, fetched, raw)

    async def _store_platform(
        self, registration: Registration, fetched: FetchedPckCertificates, raw: RawTcb | None
    ) -> PlatformRecord:
        available = [o for o in fetched.options if o.certificate is not None]
        missing = [o for o in fetched.options if o.certificate is None]
        if self.service.mode is CachingMode.REQ:
            for option in missing:
                na = raw_tcb_of(option.tcb)
                if na is not None:
                    row = Registration(
                        registration.qe_id, registration.pce_id, na.cpu_svn, na.pce_svn,
                        registration.enc_ppid, registration.platform_manifest,
                    )  # fmt: skip
                    await asyncio.to_thread(self.registry.register, row, tables.STATE_NOT_AVAILABLE)
        if not available:
            raise NotCached(
                f"No cache data for this platform: Intel PCS has no PCK certificate for QE-ID {registration.qe_id} "
                f"yet (all {len(missing)} TCB levels are 'Not available')."
            )
        records = [
            CertificateRecord(o.tcbm.upper(), json.dumps(dict(o.tcb), separators=(",", ":")), o.certificate)
            for o in available
            if o.certificate is not None
        ]
        first = PckCertificate.from_certificate(Certificate.from_pem(records[0].cert))
        fmspc = (fetched.fmspc or first.fmspc.hex()).upper()
        ca = (fetched.ca_type or first.ca_type).upper()
        records = await self.verified(
            registration.qe_id, registration.pce_id, records, fetched.issuer_chain, ca, fetch=True
        )
        platform = PlatformRecord(
            registration.qe_id, registration.pce_id, fmspc, ca, registration.enc_ppid.lower(),
            registration.platform_manifest.lower(), fetched.issuer_chain,
        )  # fmt: skip
        await self._prefetch_tcb_infos(fmspc)
        await self.replace(platform, records, [raw] if raw is not None else [])
        return platform

    async def _prefetch_tcb_infos(self, fmspc: str) -> None:
        """As Intel's PCCS: SGX TCB info (standard required, early if any) and TDX TCB info if any."""
        await self.service.document(EntryKey.tcb_info(Tee.SGX, fmspc, Update.STANDARD), fetch=True)
        for tee, update in ((Tee.SGX, Update.EARLY), (Tee.TDX, Update.STANDARD), (Tee.TDX, Update.EARLY)):
            try:
                await self.service.optional_document(EntryKey.tcb_info(tee, fmspc, update), fetch=True)
            except PccsError as exc:
                log.info("prefetching the %s %s TCB info of %s failed: %s", tee.value, update.value, fmspc, exc)

    async def replace(
        self, platform: PlatformRecord, records: Sequence[CertificateRecord], new_raw: Sequence[RawTcb]
    ) -> None:
        """Store the platform and its certificates, re-running selection for every raw TCB already seen (the
        certificates changed) and for ``new_raw``; a raw TCB that fits no certificate is dropped."""
        known = await asyncio.to_thread(self.registry.raw_tcbs, platform.qe_id, platform.pce_id)
        raws = list(dict.fromkeys([*known, *new_raw]))
        selections: list[tuple[RawTcb, str]] = []
        if raws:
            info = await self.selection_tcb_info(platform.fmspc)
            for raw in raws:
                try:
                    selections.append((raw, select(raw, records, platform.pce_id, info).tcbm))
                except SelectionError as exc:
                    log.info(
                        "PCK selection for QE-ID %s raw TCB %s/%s: %s", platform.qe_id, raw.cpu_svn, raw.pce_svn, exc
                    )
        await asyncio.to_thread(self.registry.replace_platform, platform, records, selections)
        await self.service.changed()

    async def verified(
        self,
        qe_id: str,
        pce_id: str,
        records: Sequence[CertificateRecord],
        issuer_chain: bytes,
        ca: str,
        *,
        fetch: bool,
    ) -> list[CertificateRecord]:
        """The certificates that verify against the trust root (a revoked one is left out and logged); any
        other failure refuses the whole answer. The CRLs come from the cache (``fetch``: or the upstream)."""
        if ca not in ("PROCESSOR", "PLATFORM"):
            raise UpstreamFailed(f"the PCK certificates name an unknown CA {ca!r}")
        service = self.service
        source = service.upstream if fetch else None
        try:
            root = await service.cache.root_ca_crl(source)
            pck_crl = await service.cache.pck_crl(source, PckCa(ca.lower()))
        except CollateralUnavailableError as exc:
            from pydcap.pccs.service import unavailable

            raise unavailable("CRLs that PCK certificates are checked against", exc, service.mode) from exc
        kept: list[CertificateRecord] = []
        for record in records:
            key = EntryKey.pck_certificate(f"{qe_id}/{record.tcbm[:32]}/{record.tcbm[32:]}/{pce_id}".lower())
            try:
                admit(
                    key, record.cert, issuer_chain, service.trust, root_ca_crl=root.data, pck_crl=pck_crl.data,
                    meta={"tcbm": record.tcbm.lower()}, memo=service.memo,
                )  # fmt: skip
            except UntrustedCollateralError as exc:
                if exc.failure is Failure.SGX_PCK_REVOKED:
                    log.warning("left out the revoked PCK certificate of QE-ID %s at TCB %s", qe_id, record.tcbm)
                    continue
                raise UpstreamFailed(f"refused the PCK certificates of QE-ID {qe_id}: {exc.reason}") from exc
            kept.append(record)
        if not kept:
            raise NotCached(f"No cache data for this platform: every PCK certificate of QE-ID {qe_id} is revoked.")
        return kept

    # ---- POST platforms -----------------------------------------------------------------------------

    async def register(self, registration: Registration, update: str) -> None:
        """Intel's registration: queue it (OFFLINE), or fetch its certificates (LAZY, REQ: queued until
        fetched) and the collateral every quote needs, unless it is cached already."""
        cached = await self._is_cached(registration)
        mode = self.service.mode
        if not cached:
            raw = RawTcb(registration.cpu_svn, registration.pce_svn) if registration.cpu_svn else None
            if mode is CachingMode.OFFLINE:
                await asyncio.to_thread(self.registry.register, registration, tables.STATE_NEW)
                return
            if mode is CachingMode.REQ:
                await asyncio.to_thread(self.registry.register, registration, tables.STATE_NEW)
            await self.fetch_platform(registration, raw)
            if mode is CachingMode.REQ:
                await asyncio.to_thread(self.registry.register, registration, tables.STATE_DELETED)
        if mode is not CachingMode.OFFLINE:
            await self.prefetch_collateral(update)

    async def _is_cached(self, registration: Registration) -> bool:
        platform = await asyncio.to_thread(self.registry.platform, registration.qe_id, registration.pce_id)
        if platform is None:
            return False
        if registration.platform_manifest:
            return platform.platform_manifest.upper() == registration.platform_manifest.upper()
        raw = RawTcb(registration.cpu_svn, registration.pce_svn)
        return await asyncio.to_thread(self.registry.selected, registration.qe_id, registration.pce_id, raw) is not None

    async def prefetch_collateral(self, update: str) -> None:
        """What every quote needs besides TCB info: both PCK CRLs, QE, QvE and TD QE identities (v3 and v4),
        the root CA CRL; fetched only when not cached."""
        updates = [Update.EARLY, Update.STANDARD] if update == "all" else [Update(update)]
        keys: list[tuple[EntryKey, int]] = [(EntryKey.root_ca_crl(), 4)]
        keys += [(EntryKey.pck_crl(ca), 4) for ca in PckCa]
        for u in updates:
            keys += [(EntryKey.qe_identity(Tee.SGX, u), api) for api in (3, 4)]
            keys += [(EntryKey.qve_identity(u), api) for api in (3, 4)]
            keys.append((EntryKey.qe_identity(Tee.TDX, u), 4))
        for key, api in keys:
            await self.service.optional_document(key, api, fetch=True)

    # ---- refresh?type=certs -------------------------------------------------------------------------

    async def refresh_certificates(self, fmspcs: Sequence[str]) -> int:
        """Fetch again the certificates of every cached platform (of ``fmspcs``, or all); returns how many."""
        platforms = await asyncio.to_thread(self.registry.platforms, fmspcs or None)
        for platform in platforms:
            registration = Registration(
                platform.qe_id, platform.pce_id, enc_ppid=platform.enc_ppid.upper(),
                platform_manifest=platform.platform_manifest.upper(),
            )  # fmt: skip
            await self.fetch_platform(registration, None)
        return len(platforms)


def _answer(platform: PlatformRecord, record: CertificateRecord) -> PckAnswer:
    return PckAnswer(record.cert, record.tcbm.upper(), platform.fmspc, platform.ca, platform.issuer_chain)
