"""The simulated Intel as a ``CollateralSource`` in memory: what its PCS serves, without HTTP or sockets, for unit
tests of whatever sits on a source (the cache, the services, the providers). It answers as the simulated PCS
does (the same documents, the same PCK certificate selection, 404 as ``CollateralNotFoundError``), counts what it
is asked, and can be taken down (``UpstreamUnreachableError``).
"""

from __future__ import annotations

import threading
from collections import Counter

from pydcap.intel import EntryKind, PckCa, PlatformId, Tee, Update
from pydcap.sim.intel import SimulatedIntel
from pydcap.sim.pki import pem_chain
from pydcap.sources.errors import CollateralNotFoundError, UpstreamUnreachableError
from pydcap.sources.models import Fetched


class SimulatedSource:
    """``intel``'s PCS as a collateral source. ``calls`` counts requests by document kind (``root_ca_crl``,
    ``pck_crl``, ``tcb_info``, ``qe_identity``, ``qve_identity``, ``pck_certificate``); ``down`` makes every
    request fail as an unreachable service would."""

    def __init__(self, intel: SimulatedIntel) -> None:
        self.intel = intel
        self.calls: Counter[str] = Counter()
        self.down = False
        self._lock = threading.Lock()

    @property
    def description(self) -> str:
        return f"the simulated Intel (seed {self.intel.seed}) in memory"

    def total(self) -> int:
        with self._lock:
            return sum(self.calls.values())

    def _asked(self, kind: str, what: str) -> str:
        url = f"sim://{self.intel.seed}/{kind}"
        with self._lock:
            self.calls[kind] += 1
        if self.down:
            outage = "the simulated Intel is down"
            raise UpstreamUnreachableError(what, url, None, outage, "a test outage", document=EntryKind(kind))
        return url

    async def root_ca_crl(self) -> Fetched:
        url = self._asked("root_ca_crl", "root CA CRL")
        return Fetched(self.intel.root_ca_crl(), b"", url)

    async def pck_crl(self, ca: PckCa) -> Fetched:
        url = self._asked("pck_crl", f"PCK CRL ({ca.value} CA)")
        return Fetched(self.intel.pck_crl(ca.value), self.intel.pck_crl_issuer_chain(ca.value), url)

    async def tcb_info(self, tee: Tee, fmspc: bytes, update: Update = Update.STANDARD) -> Fetched:
        what = f"{tee.value.upper()} TCB info for FMSPC {fmspc.hex().upper()}"
        url = self._asked("tcb_info", what)
        try:
            body = self.intel.tcb_info(fmspc, tee.value, update=update.value)
        except LookupError:
            raise CollateralNotFoundError(
                what, url, 404, "no such FMSPC", "the simulated Intel has none", document=EntryKind.TCB_INFO
            ) from None
        return Fetched(body, self.intel.signing_chain, url)

    async def qe_identity(self, tee: Tee, update: Update = Update.STANDARD) -> Fetched:
        url = self._asked("qe_identity", "QE identity")
        body = self.intel.enclave_identity("TD_QE" if tee is Tee.TDX else "QE", update=update.value)
        return Fetched(body, self.intel.signing_chain, url)

    async def qve_identity(self, update: Update = Update.STANDARD) -> Fetched:
        url = self._asked("qve_identity", "QvE identity")
        return Fetched(self.intel.enclave_identity("QVE", update=update.value), self.intel.signing_chain, url)

    async def pck_certificate(self, platform: PlatformId) -> Fetched:
        """What PCS selects for the platform's raw TCB; ``CollateralNotFoundError`` for a platform the simulated
        Intel did not certify (found by encrypted PPID, else by QE-ID), or a TCB below every certificate."""
        what = f"PCK certificate for platform {platform.key}"
        url = self._asked("pck_certificate", what)
        find = self.intel.find_platform
        found = find(encrypted_ppid=platform.encrypted_ppid) if platform.encrypted_ppid else find(qe_id=platform.qe_id)
        pck = None
        if found is not None and int.from_bytes(found.pce_id, "little") == platform.pce_id:
            pck = self.intel.select_pck(found, platform.cpu_svn, platform.pce_svn)
        if found is None or pck is None:
            raise CollateralNotFoundError(
                what,
                url,
                404,
                "no such platform or TCB",
                "the simulated Intel has none",
                document=EntryKind.PCK_CERTIFICATE,
            )
        meta = {"tcbm": pck.tcbm.lower(), "fmspc": found.fmspc.hex(), "ca_type": found.ca}
        return Fetched(pck.pem, pem_chain(found.issuer, self.intel.pki.root), url, meta=meta)

    async def aclose(self) -> None:
        return None
