"""What pydcap's own providers (bundled, Azure) share: ``CachingProvider``, the quote provider interface
answered from a ``pydcap.cache.CollateralService`` with its failures translated into quote provider errors,
and the persistent store such a provider opens for itself.
"""

from __future__ import annotations

import abc
from pathlib import Path

from pydcap.cache import (
    CollateralService,
    CollateralStore,
    Entry,
    EntryKind,
    FetchedCollateral,
    MachineCertificate,
    StoreError,
    default_store_limit,
)
from pydcap.collateral import Collateral, SignedDocument
from pydcap.intel import PckCa, Tee
from pydcap.provider import codes
from pydcap.provider.errors import ProviderConfigError, ProviderError
from pydcap.provider.interface import (
    CacheKind,
    CaType,
    LogCallback,
    LogLevel,
    PckCertChain,
    PlatformId,
    QuoteProvider,
    QveIdentity,
    check_request,
)
from pydcap.provider.messages import ProviderLog
from pydcap.provider.source_errors import OBTAIN_FAILURES, ObtainFailure, provider_error
from pydcap.quote import TeeType

_TEES = {TeeType.SGX: "sgx", TeeType.TDX: "tdx"}


def open_own_store(location: str | Path, variable: str) -> CollateralStore:
    """The persistent store a provider opens for itself at ``location``, bounded as a client's store is
    (``$PYDCAP_CACHE_MAX_BYTES``); one that cannot be opened is reported against the environment variable that
    chose it."""
    try:
        return CollateralStore.open(location, max_bytes=default_store_limit())
    except StoreError as exc:
        raise ProviderConfigError("environment", str(exc), key=variable) from exc


class CachingProvider(QuoteProvider):
    """The quote provider interface over a ``CollateralService``. Subclasses say how a PCK certificate is
    obtained (``_pck_entry``) and may say how collateral is (``_collateral``) and which ``quote3_error_t`` a
    failure gets (``_error``); ``own_store`` is closed with the provider."""

    def __init__(self, service: CollateralService, log: ProviderLog, own_store: CollateralStore | None) -> None:
        self.service = service
        self._log = log
        self._own_store = own_store

    @abc.abstractmethod
    def _pck_entry(self, platform: PlatformId) -> Entry:
        """The verified cache entry of the platform's PCK certificate."""

    def _collateral(self, tee: Tee, fmspc: bytes, ca: PckCa) -> FetchedCollateral:
        """The verified collateral of one TEE, FMSPC and PCK CA."""
        return self.service.collateral_for(tee, fmspc, ca)

    def _error(self, exc: ObtainFailure, not_found: int) -> ProviderError:
        """The provider error for a failure to obtain a document (``provider_error``: what Intel's libraries say)."""
        return provider_error(exc, not_found)

    @property
    def store(self) -> CollateralStore | None:
        return self.service.cache.store

    def pck_cert_chain(self, platform: PlatformId) -> PckCertChain:
        try:
            machine = MachineCertificate(self._pck_entry(platform))
        except OBTAIN_FAILURES as exc:
            raise self._failed(exc, "PCK certificate", codes.NO_PLATFORM_CERT_DATA) from exc
        origin = f"stale, {machine.entry.origin}" if machine.stale else machine.entry.origin
        self._say(LogLevel.INFO, f"PCK certificate for QE-ID {platform.qe_id.hex()} ({origin})")
        return PckCertChain(machine.pem_chain, machine.cpu_svn, machine.pce_svn)

    def verification_collateral(self, fmspc: bytes, ca: CaType, tee: TeeType = TeeType.SGX) -> Collateral:
        check_request(fmspc, ca, tee)
        what = f"{tee.name} collateral for FMSPC {fmspc.hex()} ({ca} CA)"
        try:
            fetched = self._collateral(Tee(_TEES[tee]), fmspc, PckCa(ca))
            collateral = fetched.collateral
        except OBTAIN_FAILURES as exc:
            raise self._failed(exc, what) from exc
        origins = ", ".join(f"{part} {origin}" for part, origin in fetched.origins.items())
        self._say(LogLevel.INFO, f"{what}: {origins}")
        for part in fetched.stale_parts:
            self._say(LogLevel.WARNING, f"the {part} is stale: the service could not provide a fresher one")
        return collateral

    def qve_identity(self) -> QveIdentity:
        try:
            entry = self.service.qve_identity()
            document = SignedDocument.parse(entry.data, "enclaveIdentity", "qve_identity")
        except OBTAIN_FAILURES as exc:
            raise self._failed(exc, "QvE identity", codes.NO_QVE_IDENTITY_DATA) from exc
        return QveIdentity(document, entry.issuer_chain)

    def root_ca_crl(self) -> bytes:
        try:
            return self.service.root_ca_crl().data
        except OBTAIN_FAILURES as exc:
            raise self._failed(exc, "root CA CRL") from exc

    def clear_cache(self, kinds: CacheKind = CacheKind.ALL) -> None:
        """Delete the kinds asked for (PCK certificates, collateral, or both) from the store, and empty the
        memory tier (whatever it held is read again from the store)."""
        doomed = []
        if kinds & CacheKind.CERTIFICATE:
            doomed.append(EntryKind.PCK_CERTIFICATE)
        if kinds & CacheKind.QV_COLLATERAL:
            doomed.extend(k for k in EntryKind if k is not EntryKind.PCK_CERTIFICATE)
        store = self.store
        if store is not None:
            try:
                for kind in doomed:
                    store.clear(kind=kind.value)
            except StoreError as exc:
                raise provider_error(exc) from exc
        self.service.cache.forget()

    def set_logging(self, callback: LogCallback | None, level: LogLevel = LogLevel.INFO) -> None:
        self._log.set_callback(callback, level)

    def close(self) -> None:
        try:
            self.service.close()
        finally:
            if self._own_store is not None:
                self._own_store.close()

    def _say(self, level: LogLevel, message: str) -> None:
        self._log.say(level, f"[{self.name}] {message}")

    def _failed(self, exc: ObtainFailure, what: str, not_found: int = codes.NO_QUOTE_COLLATERAL_DATA) -> ProviderError:
        error = self._error(exc, not_found)
        self._say(LogLevel.ERROR, f"{what} unavailable: {error}")
        return error
