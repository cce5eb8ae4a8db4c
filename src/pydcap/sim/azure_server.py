"""A simulated Azure DCAP collateral service over a ``SimulatedIntel``, on uvicorn in a background thread:
the global cache (``/sgx/certification/vN/...``, ``/tdx/certification/v4/...``) and THIM behind the instance
metadata service (``/metadata/THIM/sgx/certification/vN/pckcert``, which wants the ``metadata: true`` header).
"""

from __future__ import annotations

import json
import re
import struct
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pydcap.sim.intel import SimulatedIntel
from pydcap.sim.pki import pem_chain
from pydcap.sim.server.runner import ServerThread

THIM_PREFIX = "/metadata/THIM"
LEGACY_CRL_API = "2018-10-01-preview"  # CRLs as DER; later API versions get PEM
_HEX = re.compile(r"[0-9a-fA-F]*")

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class AzureRequest:
    """One request as the simulated service saw it: which face (``global`` or ``thim``), path and query."""

    service: str
    path: str
    params: Mapping[str, str]
    headers: Mapping[str, str]


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _hex(params: Mapping[str, str], name: str, size: int | None = None) -> bytes:
    value = params.get(name)
    if value is None or not _HEX.fullmatch(value) or len(value) % 2 or (size is not None and len(value) != 2 * size):
        raise _Refused(400, f"{name} must be {2 * size if size else 'an even number of'} hexadecimal characters")
    return bytes.fromhex(value)


class AzureApi:
    """The endpoints of the simulated Azure service for one simulated Intel.

    URL shapes, parameters and headers are those Microsoft's Azure DCAP client uses: ``clientid`` and
    ``api-version`` on every request, CRLs by Intel's distribution URL (``pckcrl?uri=``), Azure's issuer-chain
    header names, ``Cache-Control: max-age``, PCK certificates as a JSON body (``pckCert``,
    ``sgx-Pck-Certificate-Issuer-Chain``, ``sgx-Tcbm``, ``cacheMaxAge``). PCESVN and PCE-ID are big-endian hex,
    in requests and in the TCBm, as Microsoft's client sends and reads them (Intel's services: little-endian).
    """

    def __init__(self, intel: SimulatedIntel, max_age: int, record: Callable[[AzureRequest], None]) -> None:
        self.intel = intel
        self.max_age = max_age
        self.record = record
        self.thim_status: int | None = None

    def _respond(self, body: bytes | str, media_type: str, headers: Mapping[str, str] | None = None) -> Response:
        all_headers = {"Request-ID": uuid.uuid4().hex, "Cache-Control": f"max-age={self.max_age}", **(headers or {})}
        return Response(body, media_type=media_type, headers=all_headers)

    def _json(self, body: bytes, chain_header: str) -> Response:
        return self._respond(body, "application/json", {chain_header: quote(self.intel.signing_chain.decode())})

    def _evaluation_version(self, request: Request) -> int:
        return 3 if request.path_params["version"] == "v4" else 2

    # ---- endpoints -----------------------------------------------------------------------------

    async def pckcert(self, request: Request) -> Response:
        params = request.query_params
        if request.path_params["service"] == "thim":
            if self.thim_status is not None:
                raise _Refused(self.thim_status, "the instance metadata service is unavailable")
            if request.headers.get("metadata", "").lower() != "true":
                raise _Refused(400, "Bad request. Required metadata header not specified")
        qe_id = _hex(params, "qeid")
        cpu_svn = _hex(params, "cpusvn", 16)
        pce_svn = struct.unpack(">H", _hex(params, "pcesvn", 2))[0]
        pce_id = _hex(params, "pceid", 2)[::-1]
        if "encrypted_ppid" in params:
            _hex(params, "encrypted_ppid", 384)
        platform = self.intel.find_platform(qe_id=qe_id)
        if platform is None or platform.pce_id != pce_id:
            raise _Refused(404, "no PCK certificate is cached for this platform")
        pck = self.intel.select_pck(platform, cpu_svn, pce_svn)
        if pck is None:
            raise _Refused(404, "no PCK certificate for this platform's TCB")
        body = {
            "pckCert": pck.pem.decode(),
            "sgx-Pck-Certificate-Issuer-Chain": quote(pem_chain(platform.issuer, self.intel.pki.root).decode()),
            "sgx-Tcbm": pck.tcbm[:32] + pck.tcbm[34:36] + pck.tcbm[32:34],  # PCESVN big-endian
            "cacheMaxAge": str(self.max_age),
        }
        return self._respond(json.dumps(body), "application/json")

    async def pckcrl(self, request: Request) -> Response:
        uri = request.query_params.get("uri", "")
        found = self._crl(uri)
        if found is None:
            raise _Refused(404, f"no CRL is cached for {uri!r}")
        der, chain = found
        if request.query_params.get("api-version") == LEGACY_CRL_API:
            body, media_type = der, "application/pkix-crl"
        else:
            body, media_type = x509.load_der_x509_crl(der).public_bytes(Encoding.PEM), "application/x-pem-file"
        return self._respond(body, media_type, {"SGX-PCK-CRL-Issuer-Chain": quote(chain.decode())})

    def _crl(self, uri: str) -> tuple[bytes, bytes] | None:
        """The CRL and issuer chain behind one of Intel's CRL URLs, as Azure's client or Intel spell them."""
        text = uri.lower()
        pki = self.intel.pki
        if text.endswith(("/intelsgxrootca.crl", "/intelsgxrootca.der")):
            return self.intel.root_ca_crl(), pem_chain(pki.root)
        for ca in ("processor", "platform"):
            if text.endswith(f"/intelsgxpck{ca}.crl") or f"pckcrl?ca={ca}" in text:
                return self.intel.pck_crl(ca), self.intel.pck_crl_issuer_chain(ca)
        return None

    async def tcb(self, request: Request) -> Response:
        fmspc = _hex(request.query_params, "fmspc", 6)
        try:
            body = self.intel.tcb_info(fmspc, request.path_params["tee"], version=self._evaluation_version(request))
        except LookupError as exc:
            raise _Refused(404, f"no TCB info for FMSPC {fmspc.hex().upper()}") from exc
        return self._json(body, "SGX-TCB-Info-Issuer-Chain")

    async def qe_identity(self, request: Request) -> Response:
        enclave = "TD_QE" if request.path_params["tee"] == "tdx" else "QE"
        return self._identity(request, enclave)

    async def qve_identity(self, request: Request) -> Response:
        return self._identity(request, "QVE")

    def _identity(self, request: Request, enclave: str) -> Response:
        v4 = request.path_params["version"] == "v4"
        body = self.intel.enclave_identity(enclave, advisories=v4)
        return self._json(body, "SGX-Enclave-Identity-Issuer-Chain")

    # ---- routing -------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        table: list[tuple[str, tuple[str, ...], tuple[str, ...], Handler]] = [
            ("pckcert", ("sgx",), ("v3", "v4"), self.pckcert),
            ("pckcrl", ("sgx",), ("v3", "v4"), self.pckcrl),
            ("tcb", ("sgx",), ("v3", "v4"), self.tcb),
            ("tcb", ("tdx",), ("v4",), self.tcb),
            ("qe/identity", ("sgx",), ("v3", "v4"), self.qe_identity),
            ("qeid", ("sgx",), ("v3", "v4"), self.qe_identity),
            ("qe/identity", ("tdx",), ("v4",), self.qe_identity),
            ("qve/identity", ("sgx",), ("v3", "v4"), self.qve_identity),
            ("qveid", ("sgx",), ("v3", "v4"), self.qve_identity),
        ]
        routes = [
            Route(f"/{tee}/certification/{version}/{path}", self._endpoint(handler, tee, version), methods=["GET"])
            for path, tees, versions, handler in table
            for tee in tees
            for version in versions
        ]
        routes += [
            Route(f"{THIM_PREFIX}/sgx/certification/{v}/pckcert", self._endpoint(self.pckcert, "sgx", v))
            for v in ("v3", "v4")
        ]
        return routes

    def _endpoint(self, handler: Handler, tee: str, version: str) -> Handler:
        async def endpoint(request: Request) -> Response:
            service = "thim" if request.url.path.startswith(THIM_PREFIX) else "global"
            self.record(
                AzureRequest(service, request.url.path, dict(request.query_params), dict(request.headers.items()))
            )
            request.path_params.update({"service": service, "tee": tee, "version": version})
            try:
                if "api-version" not in request.query_params:
                    raise _Refused(400, "api-version is required")
                return await handler(request)
            except _Refused as exc:
                body = json.dumps({"error": {"code": exc.status, "message": exc.message}})
                return Response(body, status_code=exc.status, media_type="application/json")

        return endpoint


class SimulatedAzure:
    """The simulated Azure service on ``host:port`` (0: a free port). ``url`` is the global cache's base URL
    (``AZDCAP_BASE_CERT_URL``), ``thim_url`` THIM's (``AZDCAP_PRIMARY_BASE_CERT_URL``); ``requests`` lists
    what arrived; ``thim_status`` set to a status (503...) makes THIM fail with it."""

    def __init__(self, intel: SimulatedIntel, host: str = "127.0.0.1", port: int = 0, *, max_age: int = 86400):
        self.intel = intel
        self._lock = threading.Lock()
        self._requests: list[AzureRequest] = []
        self.api = AzureApi(intel, max_age, self._record)
        self._server = ServerThread(Starlette(routes=self.api.routes()), host, port)

    def _record(self, request: AzureRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[AzureRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    @property
    def thim_status(self) -> int | None:
        return self.api.thim_status

    @thim_status.setter
    def thim_status(self, status: int | None) -> None:
        self.api.thim_status = status

    @property
    def root(self) -> str:
        host = f"[{self._server.host}]" if ":" in self._server.host else self._server.host
        return f"http://{host}:{self._server.port}"

    @property
    def url(self) -> str:
        return f"{self.root}/sgx/certification"

    @property
    def thim_url(self) -> str:
        return f"{self.root}{THIM_PREFIX}/sgx/certification"

    def start(self) -> SimulatedAzure:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> SimulatedAzure:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
