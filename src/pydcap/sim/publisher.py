"""The signed documents the simulated Intel publishes: TCB info per FMSPC and TEE, enclave identities, the TCB
evaluation data numbers. Issued at ``now``, valid for 30 days, signed by the TCB Signing key, cached."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from pydcap.sim import documents
from pydcap.sim.catalog import Catalog, FmspcEntry
from pydcap.sim.pki import DAY, Authority

DOCUMENT_LIFETIME = 30 * DAY


class DocumentPublisher:
    """Builds, signs and caches the collateral documents of one simulated Intel."""

    def __init__(self, signer: Authority, catalog: Callable[[], Catalog], now: int) -> None:
        self.signer = signer
        self._catalog = catalog
        self.now = now
        self._lock = threading.Lock()
        self._cache: dict[tuple[Any, ...], bytes] = {}

    def sign(self, body_key: str, body: dict[str, Any], signer: Authority | None = None) -> bytes:
        """``{"<body_key>":<compact body>,"signature":"<hex>"}``, signed by the TCB Signing key or ``signer``."""
        return documents.sign_document(body_key, documents.compact(body), (signer or self.signer).key)

    def _cached(self, key: tuple[Any, ...], make: Callable[[], bytes]) -> bytes:
        with self._lock:
            cached = self._cache.get(key)
        if cached is None:
            cached = make()
            with self._lock:
                self._cache[key] = cached
        return cached

    def _dates(self, issue_date: int | None, next_update: int | None) -> tuple[int, int]:
        issued = self.now if issue_date is None else issue_date
        return issued, issued + DOCUMENT_LIFETIME if next_update is None else next_update

    def entry(self, fmspc: bytes) -> FmspcEntry:
        entry = self._catalog().entry(fmspc)
        if entry is None:
            raise LookupError(f"no TCB info for FMSPC {fmspc.hex().upper()}")
        return entry

    def tcb_info_body(
        self,
        fmspc: bytes,
        tee: str = "sgx",
        *,
        number: int,
        version: int = 3,
        issue_date: int | None = None,
        next_update: int | None = None,
    ) -> dict[str, Any]:
        entry = self.entry(fmspc)
        tcb = entry.tcb.get(number)
        if tcb is None:
            raise LookupError(f"no TCB info for evaluation data number {number}")
        issued, expires = self._dates(issue_date, next_update)
        return documents.tcb_info_body(
            entry, tcb, tee=tee, version=version, number=number, issue_date=issued, next_update=expires
        )

    def tcb_info(self, fmspc: bytes, tee: str, *, number: int, version: int = 3) -> bytes:
        key = ("tcb", fmspc, tee, number, version)
        return self._cached(
            key, lambda: self.sign("tcbInfo", self.tcb_info_body(fmspc, tee, number=number, version=version))
        )

    def enclave_identity_body(
        self,
        enclave_id: str,
        *,
        number: int,
        issue_date: int | None = None,
        next_update: int | None = None,
        advisories: bool = True,
    ) -> dict[str, Any]:
        catalog = self._catalog()
        spec = catalog.enclaves.get(enclave_id)
        if spec is None:
            raise LookupError(f"no identity for enclave {enclave_id!r}")
        if number not in catalog.numbers:
            raise LookupError(f"no identity for evaluation data number {number}")
        issued, expires = self._dates(issue_date, next_update)
        return documents.enclave_identity_body(
            spec, number=number, issue_date=issued, next_update=expires, advisories=advisories
        )

    def enclave_identity(self, enclave_id: str, *, number: int, advisories: bool = True) -> bytes:
        key = ("identity", enclave_id, number, advisories)
        return self._cached(
            key,
            lambda: self.sign(
                "enclaveIdentity", self.enclave_identity_body(enclave_id, number=number, advisories=advisories)
            ),
        )

    def evaluation_numbers(self, tee: str) -> bytes:
        def make() -> bytes:
            issued, expires = self._dates(None, None)
            body = documents.evaluation_numbers_body(
                tee, self._catalog().evaluations, issue_date=issued, next_update=expires
            )
            return self.sign("tcbEvaluationDataNumbers", body)

        return self._cached(("numbers", tee), make)

    def fmspcs(self, segment: str = "all") -> list[dict[str, str]]:
        return [
            {"platform": e.segment, "fmspc": e.fmspc.hex().upper()}
            for e in sorted(self._catalog().fmspcs.values(), key=lambda e: e.fmspc)
            if segment in ("all", e.segment)
        ]
