"""PCK certificates of platforms: fetched all at once (PCS ``pckcerts``), verified, stored, and the one for
each raw TCB chosen by Intel's selection rule; registration (``POST platforms``) in each caching mode.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from pydcap.cache import CollateralCache, CollateralStore, Entry, EntryKey, StoreError, UntrustedCollateralError, admit
from pydcap.cache.coalesce import coalesced
from pydcap.cache.failures import FailureMemory
from pydcap.cache.flight import SingleFlight
from pydcap.cache.owners import LeaseHolder, new_owner
from pydcap.collateral import TcbInfo
from pydcap.errors import CollateralError, FormatError
from pydcap.intel import Failure, PckCa, Tcb, Tee, Update
from pydcap.pccs import tables
from pydcap.pccs.config import CachingMode
from pydcap.pccs.errors import (
    NotCached,
    PccsError,
    PlatformUnknown,
    ServiceUnavailable,
    UpstreamFailed,
    unavailable,
)
from pydcap.pccs.queries import PckCertQuery
from pydcap.pccs.registry import CertificateRecord, PlatformRecord, PlatformRegistry, RawTcb, Registration
from pydcap.pccs.selection import SelectionError, select_certificate
from pydcap.pki import Certificate, PckCertificate, TrustRoot
from pydcap.sources.budget import RequestBudget
from pydcap.sources.models import FetchedPckCertificates
from pydcap.trust import PkiMemo

if TYPE_CHECKING:
    from pydcap.pccs.upstream import MeteredUpstream

log = logging.getLogger("pydcap.pccs")


class PccsService(Protocol):
    """What platform certificates need of the PCCS they serve (``pydcap.pccs.service.PccsService``)."""

    store: CollateralStore
    registry: PlatformRegistry
    cache: CollateralCache
    mode: CachingMode
    trust: TrustRoot
    memo: PkiMemo
    budget: RequestBudget | None
    upstream: MeteredUpstream | None
    lease_ttl: float

    async def document(self, key: EntryKey, api: int = 4, *, fetch: bool | None = None) -> Entry: ...
    async def optional_document(self, key: EntryKey, api: int = 4, *, fetch: bool | None = None) -> Entry | None: ...
    async def changed(self) -> None: ...


_TCBM = re.compile(r"^[0-9A-F]{36}$")


class CertificatesNotIssued(NotCached):
    """404: Intel PCS answered for the platform, but every TCB level's certificate is "Not available"."""


class PlatformNotStoredError(StoreError):
    """A platform's certificates were fetched and verified, but the store failed to keep them: ``platform`` and
    ``certificates`` are what it would have kept (a ``GET pckcert`` answers from them all the same)."""

    def __init__(self, platform: PlatformRecord, certificates: Sequence[CertificateRecord], reason: str) -> None:
        super().__init__(f"the PCK certificates of QE-ID {platform.qe_id} were verified but not stored: {reason}")
        self.platform = platform
        self.certificates = list(certificates)


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
        self._flights: SingleFlight[PlatformRecord] = SingleFlight()
        # Failed fetches of platforms not cached, by what identifies the request (QE-ID, PCE-ID, encrypted PPID
        # or manifest): a 404 for a made-up PPID must not hide the platform from a request with the real one.
        failures = service.cache.failures
        self.failures = FailureMemory(retry_interval=failures.retry_interval, not_found_ttl=failures.not_found_ttl)

    # ---- GET pckcert --------------------------------------------------------------------------------

    async def pck_certificate(self, query: PckCertQuery) -> PckAnswer:
        raw = RawTcb(query.cpu_svn, query.pce_svn)
        platform = await asyncio.to_thread(self.registry.platform, query.qe_id, query.pce_id)
        if platform is None:
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
            try:
                platform = await self._fetch_missing(registration, raw)
            except PlatformNotStoredError as unstored:  # verified: answered from memory, stored another time
                return _answer(unstored.platform, await self._select(unstored.platform, unstored.certificates, raw))
        record = await asyncio.to_thread(self.registry.selected, query.qe_id, query.pce_id, raw)
        if record is None:  # a raw TCB not seen before, or one whose selection failed: select now, or say why
            record = await self._select_and_record(platform, raw)
        return _answer(platform, record)

    async def _selection_tcb_info(self, fmspc: str) -> TcbInfo | None:
        """The SGX TCB info PCK selection uses: the early one when there is one, else the standard one; of API
        v4, else an API v3 one already cached (what importing a v3 file brings; never fetched for this)."""
        for api, fetch in ((4, None), (3, False)):
            for update in (Update.EARLY, Update.STANDARD):
                key = EntryKey.tcb_info(Tee.SGX, fmspc, update)
                entry = await self.service.optional_document(key, api, fetch=fetch)
                if entry is not None:
                    return TcbInfo.parse(entry.data)
        return None

    async def _select_and_record(self, platform: PlatformRecord, raw: RawTcb) -> CertificateRecord:
        records = await asyncio.to_thread(self.registry.certificates, platform.qe_id, platform.pce_id)
        record = await self._select(platform, records, raw)
        try:
            await asyncio.to_thread(self.registry.record_selection, platform.qe_id, platform.pce_id, raw, record.tcbm)
        except StoreError as exc:  # the answer stands; it is selected again next time
            log.warning("the PCK selection for QE-ID %s was not stored: %s", platform.qe_id, exc)
        return record

    async def _select(
        self, platform: PlatformRecord, records: Sequence[CertificateRecord], raw: RawTcb
    ) -> CertificateRecord:
        """The certificate Intel's selection picks for ``raw`` among ``records``, or NotCached saying why none."""
        if not records:
            raise NotCached(f"No cache data for this platform: no PCK certificate of QE-ID {platform.qe_id} is cached.")
        info = await self._selection_tcb_info(platform.fmspc)
        if info is None:
            raise NotCached(
                f"No cache data for the SGX TCB info of FMSPC {platform.fmspc}, which PCK certificate selection needs."
            )
        try:
            return select(raw, records, platform.pce_id, info)
        except SelectionError as exc:
            raise NotCached(
                f"No PCK certificate of QE-ID {platform.qe_id} fits the raw TCB CPUSVN {raw.cpu_svn} "
                f"PCESVN {raw.pce_svn}: {exc}."
            ) from None

    # ---- fetching a platform's certificates --------------------------------------------------------

    async def _fetch_missing(self, registration: Registration, raw: RawTcb) -> PlatformRecord:
        """A platform that ``GET pckcert`` asked for and that is not cached (LAZY): fetched, unless the upstream
        failed for the same request moments ago (its answer is given again) or the upstream request budget is
        spent (503 with Retry-After): a flood of made-up platforms cannot become a flood of requests to Intel."""
        self._upstream_for(registration)  # a request that cannot be fetched is refused before it costs anything
        what = f"PCK certificates of QE-ID {registration.qe_id}"
        try:
            self.failures.raise_if_recent(_failure_key(registration))
            if self.service.budget is not None:
                self.service.budget.spend(f"the {what}")
        except CollateralError as exc:
            raise unavailable(what, exc, self.service.mode) from exc
        return await self.fetch_platform(registration, raw)

    async def fetch_platform(self, registration: Registration, raw: RawTcb | None) -> PlatformRecord:
        """Every certificate of the platform from the upstream, verified and stored, with the selection for
        each raw TCB seen so far (and ``raw``). Concurrent fetches of one platform make one upstream request:
        at one raw TCB in this process (single flight), and across every service sharing the store (a lease
        on the platform: the others read what its holder stored)."""
        key = (registration.qe_id, registration.pce_id, raw)
        return await self._flights.run(key, lambda: self._fetch_platform_once(registration, raw))

    async def _fetch_platform_once(self, registration: Registration, raw: RawTcb | None) -> PlatformRecord:
        upstream = self._upstream_for(registration)
        qe_id, pce_id = registration.qe_id, registration.pce_id
        store, registry, ttl = self.service.store, self.registry, self.service.lease_ttl
        name = platform_lease(registry.root_id, qe_id, pce_id)
        # One owner per fetch, not per service: this service's fetch at another raw TCB waits for it as a peer's.
        owner = new_owner()
        seen = await asyncio.to_thread(registry.stamped_platform, qe_id, pce_id)

        async def stored_meanwhile() -> PlatformRecord | None:
            latest = await asyncio.to_thread(registry.stamped_platform, qe_id, pce_id)
            return latest[0] if latest is not None and latest != seen else None

        async def work() -> PlatformRecord:
            try:
                # A peer may have stored it between this miss and this lease.
                latest = await stored_meanwhile()
                return latest if latest is not None else await self._fetch_platform(upstream, registration, raw)
            finally:
                try:
                    await asyncio.to_thread(store.release, name, owner)
                except StoreError as exc:  # it expires
                    log.warning("the lease on the PCK certificates of QE-ID %s was not released: %s", qe_id, exc)

        def timed_out(holder: LeaseHolder) -> PlatformRecord:
            raise ServiceUnavailable(
                f"The PCK certificates of QE-ID {qe_id} are being fetched by {holder.owner}, which has not "
                f"finished in {ttl:g} s; retry later."
            )

        try:
            return await coalesced(
                store, name, owner, ttl=ttl, patience=ttl, work=work, reload=stored_meanwhile, timed_out=timed_out
            )
        except PlatformNotStoredError:
            raise
        except StoreError as exc:  # the store cannot say who fetches: fetch alone (one flight in this process)
            log.warning("the store cannot share the fetch of QE-ID %s's certificates, fetching alone: %s", qe_id, exc)
            return await self._fetch_platform(upstream, registration, raw)

    def _upstream_for(self, registration: Registration) -> MeteredUpstream:
        """The upstream to fetch the platform's certificates from, or why they cannot be fetched."""
        upstream = self.service.upstream
        if upstream is None:
            raise PlatformUnknown("this PCCS has no upstream (OFFLINE mode) to fetch the platform's certificates from.")
        if not registration.enc_ppid and not registration.platform_manifest:  # Intel's PCCS: no cache data
            raise NotCached(
                f"No cache data for this platform: QE-ID {registration.qe_id} is not cached yet, and Intel PCS gives "
                "a platform's certificates only for its encrypted PPID (send encrypted_ppid, or register it)."
            )
        if registration.enc_ppid and not registration.platform_manifest and set(registration.enc_ppid) == {"0"}:
            raise NotCached(
                "No cache data for this platform: its encrypted PPID is all zeros (the platform withheld its PPID), "
                "so Intel PCS cannot be asked for its certificates; register it with its real encrypted PPID."
            )
        return upstream

    async def _fetch_platform(
        self, upstream: MeteredUpstream, registration: Registration, raw: RawTcb | None
    ) -> PlatformRecord:
        pce_id = int.from_bytes(bytes.fromhex(registration.pce_id), "little")
        try:
            fetched = await upstream.pck_certificates(
                pce_id=pce_id,
                encrypted_ppid=None if registration.platform_manifest else bytes.fromhex(registration.enc_ppid),
                platform_manifest=bytes.fromhex(registration.platform_manifest) or None,
            )
        except CollateralError as exc:
            self.failures.remember(_failure_key(registration), exc)
            raise unavailable(f"PCK certificates of QE-ID {registration.qe_id}", exc, self.service.mode) from exc
        self.failures.forget(_failure_key(registration))
        return await self._store_platform(registration, fetched, raw)

    async def _store_platform(
        self, registration: Registration, fetched: FetchedPckCertificates, raw: RawTcb | None
    ) -> PlatformRecord:
        records = [
            CertificateRecord(o.tcbm.upper(), json.dumps(dict(o.tcb), separators=(",", ":")), o.certificate)
            for o in fetched.options
            if o.certificate is not None
        ]
        missing = [o for o in fetched.options if o.certificate is None]
        queued = self.service.mode is CachingMode.REQ
        if queued:
            for option in missing:
                na = raw_tcb_of(option.tcb)
                if na is not None:
                    row = Registration(
                        registration.qe_id, registration.pce_id, na.cpu_svn, na.pce_svn,
                        registration.enc_ppid, registration.platform_manifest,
                    )  # fmt: skip
                    await asyncio.to_thread(self.registry.register, row, tables.STATE_NOT_AVAILABLE)
        if not records:
            later = " (listed by GET platforms?source=reg_na; register it again later)" if queued else ""
            raise CertificatesNotIssued(
                f"No cache data for this platform: Intel PCS has no PCK certificate for QE-ID {registration.qe_id} "
                f"yet (all {len(missing)} TCB levels are 'Not available'){later}."
            )
        platform = _fetched_platform(registration, fetched, records[0])
        records = await self.verified(platform, records)
        await self._prefetch_tcb_infos(platform.fmspc)
        try:
            await self.replace(platform, records, [raw] if raw is not None else [])
        except StoreError as exc:
            raise PlatformNotStoredError(platform, records, str(exc)) from exc
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
        """Store the platform and its certificates, with ``selections`` for them."""
        selections = await self.selections(platform, records, new_raw)
        await asyncio.to_thread(self.registry.replace_platform, platform, records, selections)
        await self.service.changed()

    async def selections(
        self,
        platform: PlatformRecord,
        records: Sequence[CertificateRecord],
        new_raw: Sequence[RawTcb],
        info: TcbInfo | None = None,
    ) -> list[tuple[RawTcb, str]]:
        """The TCBm that each raw TCB selects among ``records``: every raw TCB of the platform already seen (its
        certificates change) and ``new_raw``, by ``info`` (default: the SGX TCB info selection uses, from the
        cache). A raw TCB that fits no certificate is left out, and so is every one when there is no TCB info:
        each is selected (or refused) when asked for."""
        known = await asyncio.to_thread(self.registry.raw_tcbs, platform.qe_id, platform.pce_id)
        raws = list(dict.fromkeys([*known, *new_raw]))
        if not raws:
            return []
        if info is None:
            info = await self._selection_tcb_info(platform.fmspc)
        if info is None:
            log.info(
                "PCK selection for QE-ID %s waits: no SGX TCB info of %s is cached", platform.qe_id, platform.fmspc
            )
            return []
        selections: list[tuple[RawTcb, str]] = []
        for raw in raws:
            try:
                selections.append((raw, select(raw, records, platform.pce_id, info).tcbm))
            except SelectionError as exc:
                log.info("PCK selection for QE-ID %s raw TCB %s/%s: %s", platform.qe_id, raw.cpu_svn, raw.pce_svn, exc)
        return selections

    async def verified(self, platform: PlatformRecord, records: Sequence[CertificateRecord]) -> list[CertificateRecord]:
        """``admit_certificates`` against the CRLs of the cache (fetched from the upstream when missing)."""
        ca = pck_ca(platform)
        service = self.service
        try:
            root = await service.cache.root_ca_crl(service.upstream)
            pck_crl = await service.cache.pck_crl(service.upstream, ca)
        except CollateralError as exc:
            raise unavailable("CRLs that PCK certificates are checked against", exc, service.mode) from exc
        return self.admit_certificates(platform, records, root_ca_crl=root.data, pck_crl=pck_crl.data)

    def admit_certificates(
        self, platform: PlatformRecord, records: Sequence[CertificateRecord], *, root_ca_crl: bytes, pck_crl: bytes
    ) -> list[CertificateRecord]:
        """The certificates that verify against the trust root and are the platform's (its PCE-ID and FMSPC,
        their own TCBm). A revoked one is left out and logged; any other failure refuses them all
        (``UpstreamFailed``); none left is ``NotCached``."""
        refused = f"refused the PCK certificates of QE-ID {platform.qe_id}"
        kept: list[CertificateRecord] = []
        for record in records:
            if not _TCBM.match(record.tcbm):
                raise UpstreamFailed(f"{refused}: {record.tcbm!r} is not a TCBm (36 hexadecimal digits)")
            key = EntryKey.pck_certificate(
                f"{platform.qe_id}/{record.tcbm[:32]}/{record.tcbm[32:]}/{platform.pce_id}".lower()
            )
            meta = {"tcbm": record.tcbm.lower(), "fmspc": platform.fmspc.lower()}
            try:
                admit(
                    key, record.cert, platform.issuer_chain, self.service.trust, root_ca_crl=root_ca_crl,
                    pck_crl=pck_crl, meta=meta, memo=self.service.memo,
                )  # fmt: skip
            except UntrustedCollateralError as exc:
                if exc.failure is Failure.SGX_PCK_REVOKED:
                    log.warning(
                        "left out the revoked PCK certificate of QE-ID %s at TCB %s", platform.qe_id, record.tcbm
                    )
                    continue
                raise UpstreamFailed(f"{refused}: {exc.reason}") from exc
            kept.append(record)
        if not kept:
            raise NotCached(
                f"No cache data for this platform: every PCK certificate of QE-ID {platform.qe_id} is revoked."
            )
        return kept

    # ---- POST platforms -----------------------------------------------------------------------------

    async def register(self, registration: Registration, update: str) -> None:
        """Intel's registration: queue it (OFFLINE), or fetch its certificates (LAZY, REQ: queued until
        fetched) and the collateral every quote needs, unless it is cached already."""
        mode = self.service.mode
        if not await self._is_cached(registration):
            if mode is not CachingMode.LAZY:
                await asyncio.to_thread(self.registry.register, registration, tables.STATE_NEW)
            if mode is CachingMode.OFFLINE:
                return
            raw = RawTcb(registration.cpu_svn, registration.pce_svn) if registration.cpu_svn else None
            try:
                await self.fetch_platform(registration, raw)
            except CertificatesNotIssued:
                # PCS answered: what is missing waits in the reg_na queue, so the registration leaves reg (where
                # a failed fetch keeps it).
                await self._registered(registration)
                raise
            await self._registered(registration)
        if mode is not CachingMode.OFFLINE:
            await self.prefetch_collateral(update)

    async def _registered(self, registration: Registration) -> None:
        if self.service.mode is CachingMode.REQ:
            await asyncio.to_thread(self.registry.registered, registration)

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

    async def refresh_certificates(self, fmspcs: Sequence[str]) -> None:
        """Fetch again the certificates of every cached platform (of ``fmspcs``, or all)."""
        platforms = await asyncio.to_thread(self.registry.platforms, fmspcs or None)
        for platform in platforms:
            registration = Registration(
                platform.qe_id, platform.pce_id, enc_ppid=platform.enc_ppid.upper(),
                platform_manifest=platform.platform_manifest.upper(),
            )  # fmt: skip
            await self.fetch_platform(registration, None)


def _failure_key(registration: Registration) -> bytes:
    """A short key for the failure memory, from everything the upstream request is made of."""
    parts = (registration.qe_id, registration.pce_id, registration.enc_ppid, registration.platform_manifest)
    return hashlib.sha256("/".join(p.upper() for p in parts).encode()).digest()


def platform_lease(root_id: str, qe_id: str, pce_id: str) -> str:
    """The name of the store lease held while a platform's certificates are fetched (hex in upper case)."""
    return f"pckcerts/{root_id}/{qe_id}/{pce_id}"


def pck_ca(platform: PlatformRecord) -> PckCa:
    """The CA that issued the platform's certificates (which PCK CRL checks them)."""
    if platform.ca not in ("PROCESSOR", "PLATFORM"):
        raise UpstreamFailed(f"the PCK certificates of QE-ID {platform.qe_id} name an unknown CA {platform.ca!r}")
    return PckCa(platform.ca.lower())


def _fetched_platform(
    registration: Registration, fetched: FetchedPckCertificates, first: CertificateRecord
) -> PlatformRecord:
    """The platform as PCS described it: FMSPC and CA from its headers, else from the first certificate (every
    certificate is then admitted only if it agrees: the headers are not signed)."""
    try:
        pck = PckCertificate.from_certificate(Certificate.from_pem(first.cert))
    except FormatError as exc:
        raise UpstreamFailed(f"refused the PCK certificates of QE-ID {registration.qe_id}: {exc}") from None
    return PlatformRecord(
        registration.qe_id, registration.pce_id, (fetched.fmspc or pck.fmspc.hex()).upper(),
        (fetched.ca_type or pck.ca_type).upper(), registration.enc_ppid.lower(),
        registration.platform_manifest.lower(), fetched.issuer_chain,
    )  # fmt: skip


def _answer(platform: PlatformRecord, record: CertificateRecord) -> PckAnswer:
    return PckAnswer(record.cert, record.tcbm.upper(), platform.fmspc, platform.ca, platform.issuer_chain)
