"""The collateral service: a source, a verifying cache, a trust root and a clock behind one call.

``AsyncCollateralService.get_collateral(quote)`` returns the ``Collateral`` that verifies the quote, each
part fetched at most once (concurrently) and served from the cache afterwards; ``pck_certificate(platform)``
returns the platform's machine certificate. ``CollateralService`` is the same for synchronous code: it
runs the async service on a private event loop thread, so any number of threads can share it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from types import TracebackType
from typing import Any, TypeVar

from pydcap.cache.entry import Entry
from pydcap.cache.tiered import CollateralCache
from pydcap.collateral import Collateral
from pydcap.intel import PckCa, PlatformId, Tcb, Tee, Update
from pydcap.quote import Quote
from pydcap.sources.base import CollateralSource
from pydcap.sources.fetch import collateral_from_parts, gather_or_fail, pck_chain
from pydcap.sources.models import CollateralRequest, Fetched

T = TypeVar("T")

PARTS = ("root_ca_crl", "pck_crl", "tcb_info", "qe_identity")


@dataclass(frozen=True)
class FetchedCollateral:
    """A quote's collateral and, per part, the cache entry it came from (origin, freshness, source); for a quote
    that carries an encrypted PPID, also its PCK certificate (``pck_certificate``), the collateral's chain."""

    request: CollateralRequest
    entries: Mapping[str, Entry]
    pck_certificate: MachineCertificate | None = None

    @cached_property
    def collateral(self) -> Collateral:
        parts = collateral_from_parts(**{p: Fetched(e.data, e.issuer_chain, e.source) for p, e in self.entries.items()})
        return parts if self.pck_certificate is None else replace(parts, pck_chain=self.pck_certificate.pem_chain)

    @property
    def stale_parts(self) -> tuple[str, ...]:
        """Parts served past their freshness because nothing fresher could be had."""
        return tuple(part for part in PARTS if self.entries[part].stale)

    @property
    def origins(self) -> dict[str, str]:
        return {part: self.entries[part].origin for part in PARTS}


@dataclass(frozen=True)
class MachineCertificate:
    """A platform's PCK certificate as its service selected it: the leaf, its issuer chain, and the TCB
    it certifies (``cpu_svn``, ``pce_svn``, read from the certificate; a service's ``SGX-TCBm`` must agree)."""

    entry: Entry

    @property
    def certificate(self) -> bytes:
        return self.entry.data

    @property
    def issuer_chain(self) -> bytes:
        return self.entry.issuer_chain

    @property
    def pem_chain(self) -> bytes:
        """Leaf, intermediate and root, PEM: what a quoting enclave embeds in its quotes."""
        return pck_chain(self.entry.data, self.entry.issuer_chain)

    @property
    def tcbm(self) -> str:
        return self.entry.meta["tcbm"]

    @property
    def tcb(self) -> Tcb:
        """The TCB the certificate certifies (admission read it from the certificate itself)."""
        return Tcb.from_tcbm(self.tcbm)

    @property
    def cpu_svn(self) -> bytes:
        return self.tcb.cpu_svn

    @property
    def pce_svn(self) -> int:
        return self.tcb.pce_svn

    @property
    def fmspc(self) -> bytes:
        return bytes.fromhex(self.entry.meta["fmspc"])

    @property
    def ca_type(self) -> str:
        return self.entry.meta["ca_type"]

    @property
    def stale(self) -> bool:
        return self.entry.stale


class AsyncCollateralService:
    """``source`` + ``cache`` (which holds the trust root and clock). Without a cache, a memory-only one
    (Intel's root, the real clock) still verifies everything before it is returned."""

    def __init__(
        self,
        source: CollateralSource,
        cache: CollateralCache | None = None,
        *,
        update: Update = Update.STANDARD,
    ) -> None:
        self.source = source
        self.cache = cache if cache is not None else CollateralCache()
        self.update = update

    async def fetch(self, quote: bytes | Quote) -> FetchedCollateral:
        """The collateral for ``quote`` with its provenance; FMSPC and CA come from the quote's PCK
        certificate, the TEE from its header. A quote that carries an encrypted PPID (certification data type 2
        or 3) has its PCK certificate fetched first, by QE-ID, encrypted PPID, raw TCB and PCE-ID as Intel's
        QCNL asks for it, verified and cached like the rest."""
        q = quote if isinstance(quote, Quote) else Quote.parse(quote)
        if q.pck_chain_pem is not None or q.certification_data.encrypted_ppid is None:
            return await self._collateral(CollateralRequest.from_quote(q))
        pck = await self.pck_certificate(PlatformId.from_quote(q))
        fetched = await self._collateral(CollateralRequest.from_quote(q, pck.pem_chain))
        return replace(fetched, pck_certificate=pck)

    async def collateral_for(self, tee: Tee | str, fmspc: bytes, ca: PckCa | str) -> FetchedCollateral:
        """The collateral for platforms of one FMSPC and PCK CA (what a quote provider is asked for)."""
        return await self._collateral(CollateralRequest(Tee(tee), fmspc, PckCa(ca)))

    async def _collateral(self, request: CollateralRequest) -> FetchedCollateral:
        c, s = self.cache, self.source
        root, pck, tcb, qe = await gather_or_fail(
            c.root_ca_crl(s),
            c.pck_crl(s, request.ca),
            c.tcb_info(s, request.tee, request.fmspc, self.update),
            c.qe_identity(s, request.tee, self.update),
        )
        return FetchedCollateral(request, {"root_ca_crl": root, "pck_crl": pck, "tcb_info": tcb, "qe_identity": qe})

    async def get_collateral(self, quote: bytes | Quote) -> Collateral:
        return (await self.fetch(quote)).collateral

    async def pck_certificate(self, platform: PlatformId) -> MachineCertificate:
        """The machine certificate: fetched once, then served from the cache (persisted with the store)."""
        return MachineCertificate(await self.cache.pck_certificate(self.source, platform))

    async def qve_identity(self) -> Entry:
        return await self.cache.qve_identity(self.source, self.update)

    async def aclose(self) -> None:
        await self.source.aclose()

    async def __aenter__(self) -> AsyncCollateralService:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class CollateralService:
    """The synchronous face of ``AsyncCollateralService``; safe to share between threads. ``close()`` (or
    leaving a ``with`` block) stops its event loop thread; the store is the caller's to close."""

    def __init__(
        self,
        source: CollateralSource,
        cache: CollateralCache | None = None,
        *,
        update: Update = Update.STANDARD,
    ) -> None:
        self.inner = AsyncCollateralService(source, cache, update=update)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pydcap-collateral", daemon=True)
        self._thread.start()
        self._closed = False

    @property
    def cache(self) -> CollateralCache:
        return self.inner.cache

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the service's event loop and wait for its result (from any thread but that one)."""
        if self._closed:
            coro.close()
            raise RuntimeError("this CollateralService is closed")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("CollateralService cannot be called from its own event loop; use the async service")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def fetch(self, quote: bytes | Quote) -> FetchedCollateral:
        return self.run(self.inner.fetch(quote))

    def collateral_for(self, tee: Tee | str, fmspc: bytes, ca: PckCa | str) -> FetchedCollateral:
        return self.run(self.inner.collateral_for(tee, fmspc, ca))

    def get_collateral(self, quote: bytes | Quote) -> Collateral:
        return self.run(self.inner.get_collateral(quote))

    def pck_certificate(self, platform: PlatformId) -> MachineCertificate:
        return self.run(self.inner.pck_certificate(platform))

    def qve_identity(self) -> Entry:
        return self.run(self.inner.qve_identity())

    def root_ca_crl(self) -> Entry:
        """The Intel SGX Root CA CRL entry (DER), from the cache or the source."""
        return self.run(self.cache.root_ca_crl(self.inner.source))

    def close(self) -> None:
        """Let fetches still running for other callers finish (or time out), then stop the loop."""
        if self._closed:
            return
        try:
            self.run(self._drain())
        finally:
            self._closed = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    async def _drain(self, timeout: float = 30.0) -> None:
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        await self.inner.aclose()

    def __enter__(self) -> CollateralService:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
