"""A simulated Azure DCAP collateral service over a ``SimulatedIntel``, on uvicorn in a background thread
(over TLS when given a certificate): the global cache (``/sgx/certification/vN/...``), regional THIM's TDX
endpoints (``/tdx/certification/v4/...``, ``/sgx/certification/v4/pckcrl?ca=`` and ``rootcacrl``), THIM behind
the instance metadata service (``/metadata/THIM/sgx/certification/vN/pckcert``) and the instance metadata
service itself (``/metadata/instance``, the VM's location), both wanting the ``metadata: true`` header.
"""

from __future__ import annotations

import json
import re
import struct
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import quote, unquote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pydcap.intel import protocol
from pydcap.serving import ThreadedServer, TlsFiles
from pydcap.sim.intel import SimulatedIntel
from pydcap.sim.pki import pem_chain

THIM_PREFIX = "/metadata/THIM"
INSTANCE_METADATA_PATH = "/metadata/instance"
LEGACY_CRL_API = "2018-10-01-preview"  # CRLs as DER; later API versions get PEM
_HEX = re.compile(r"[0-9a-fA-F]*")

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class AzureRequest:
    """One request as the simulated service saw it: which face (``global``, ``thim`` or ``imds``, the instance
    metadata service), path, query and headers."""

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
    The ``uri`` of a CRL may be Intel's URL or (as Microsoft's client sends it) that URL percent-encoded. THIM's
    TDX CRL endpoints take ``clientid`` only, as Microsoft's client asks them; what they answer (PEM for
    ``pckcrl?ca=``, hex for ``rootcacrl``) is pydcap's guess, which its client reads either way.
    """

    def __init__(self, intel: SimulatedIntel, max_age: int, record: Callable[[AzureRequest], None]) -> None:
        self.intel = intel
        self.max_age = max_age
        self.record = record
        self.thim_status: int | None = None
        self.cache_status: int | None = None
        self.location = "eastus"

    def _respond(self, body: bytes | str, media_type: str, headers: Mapping[str, str] | None = None) -> Response:
        all_headers = {
            protocol.REQUEST_ID: uuid.uuid4().hex,
            "Cache-Control": f"max-age={self.max_age}",
            **(headers or {}),
        }
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
        params = request.query_params
        if "uri" not in params and params.get("ca") in ("processor", "platform"):  # regional THIM, for TDX
            der, chain = self.intel.pck_crl(params["ca"]), self.intel.pck_crl_issuer_chain(params["ca"])
            return self._crl_response(der, chain, pem=True)
        _require_api_version(request)
        uri = params.get("uri", "")
        found = self._crl(uri)
        if found is None:
            raise _Refused(404, f"no CRL is cached for {uri!r}")
        der, chain = found
        return self._crl_response(der, chain, pem=params.get("api-version") != LEGACY_CRL_API)

    async def rootcacrl(self, request: Request) -> Response:
        """Regional THIM's root CA CRL (for TDX), hex-encoded DER as a PCCS serves it."""
        body = self.intel.root_ca_crl().hex()
        return self._respond(
            body, "text/plain", {protocol.PCK_CRL_ISSUER_CHAIN: quote(pem_chain(self.intel.pki.root).decode())}
        )

    def _crl_response(self, der: bytes, chain: bytes, *, pem: bool) -> Response:
        if pem:
            body, media_type = x509.load_der_x509_crl(der).public_bytes(Encoding.PEM), "application/x-pem-file"
        else:
            body, media_type = der, "application/pkix-crl"
        return self._respond(body, media_type, {protocol.PCK_CRL_ISSUER_CHAIN: quote(chain.decode())})

    def _crl(self, uri: str) -> tuple[bytes, bytes] | None:
        """The CRL and issuer chain behind one of Intel's CRL URLs, as Azure's client or Intel spell them."""
        text = unquote(uri).lower()
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
        # THIM names the TDX chain as Intel's v4 API does; Microsoft's client reads either name.
        tdx = request.path_params["tee"] == "tdx"
        return self._json(body, protocol.TCB_INFO_ISSUER_CHAIN if tdx else protocol.SGX_TCB_INFO_ISSUER_CHAIN)

    async def qe_identity(self, request: Request) -> Response:
        enclave = "TD_QE" if request.path_params["tee"] == "tdx" else "QE"
        return self._identity(request, enclave)

    async def qve_identity(self, request: Request) -> Response:
        return self._identity(request, "QVE")

    def _identity(self, request: Request, enclave: str) -> Response:
        v4 = request.path_params["version"] == "v4"
        body = self.intel.enclave_identity(enclave, advisories=v4)
        return self._json(body, protocol.ENCLAVE_IDENTITY_ISSUER_CHAIN)

    async def instance(self, request: Request) -> Response:
        """The instance metadata service: this VM's ``compute.location``, the one field Azure's client reads."""
        if request.headers.get("metadata", "").lower() != "true":
            raise _Refused(400, "Bad request. Required metadata header not specified")
        _require_api_version(request)
        return self._respond(json.dumps({"compute": {"location": self.location}}), "application/json")

    # ---- routing -------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        table: list[tuple[str, tuple[str, ...], tuple[str, ...], Handler]] = [
            (protocol.PCK_CERTIFICATE, ("sgx",), ("v3", "v4"), self.pckcert),
            (protocol.PCK_CRL, ("sgx",), ("v3", "v4"), self.pckcrl),
            (protocol.ROOT_CA_CRL, ("sgx",), ("v4",), self.rootcacrl),
            (protocol.TCB_INFO, ("sgx",), ("v3", "v4"), self.tcb),
            (protocol.TCB_INFO, ("tdx",), ("v4",), self.tcb),
            (protocol.QE_IDENTITY, ("sgx",), ("v3", "v4"), self.qe_identity),
            ("qeid", ("sgx",), ("v3", "v4"), self.qe_identity),
            (protocol.QE_IDENTITY, ("tdx",), ("v4",), self.qe_identity),
            (protocol.QVE_IDENTITY, ("sgx",), ("v3", "v4"), self.qve_identity),
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
        routes.append(Route(INSTANCE_METADATA_PATH, self._endpoint(self.instance, "", "")))
        return routes

    def _endpoint(self, handler: Handler, tee: str, version: str) -> Handler:
        async def endpoint(request: Request) -> Response:
            path = request.url.path
            service = "thim" if path.startswith(THIM_PREFIX) else "imds" if path == INSTANCE_METADATA_PATH else "global"
            self.record(AzureRequest(service, path, dict(request.query_params), dict(request.headers.items())))
            request.path_params.update({"service": service, "tee": tee, "version": version})
            try:
                if service == "global" and self.cache_status is not None:
                    raise _Refused(self.cache_status, "the collateral cache is unavailable")
                if handler not in (self.pckcrl, self.rootcacrl, self.instance):  # these check for themselves
                    _require_api_version(request)
                return await handler(request)
            except _Refused as exc:
                body = json.dumps({"error": {"code": exc.status, "message": exc.message}})
                return Response(body, status_code=exc.status, media_type="application/json")

        return endpoint


def _require_api_version(request: Request) -> None:
    if "api-version" not in request.query_params:
        raise _Refused(400, "api-version is required")


class SimulatedAzure:
    """The simulated Azure service on ``host:port`` (0: a free port), over TLS when ``tls`` gives (certificate
    file, key file). ``url`` is the global cache's base URL (``AZDCAP_BASE_CERT_URL``; also the regional THIM's,
    whose TDX endpoints it serves), ``thim_url`` THIM's (``AZDCAP_PRIMARY_BASE_CERT_URL``), ``instance_url`` the
    instance metadata service's, which reports ``location`` (settable); ``requests`` lists what arrived;
    ``thim_status`` (``cache_status``) set to a status (503...) makes THIM (every other endpoint but the
    instance metadata) fail with it."""

    def __init__(
        self,
        intel: SimulatedIntel,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_age: int = 86400,
        tls: tuple[str | Path, str | Path] | None = None,
    ):
        self.intel = intel
        self._lock = threading.Lock()
        self._requests: list[AzureRequest] = []
        self.api = AzureApi(intel, max_age, self._record)
        self.scheme = "https" if tls else "http"
        files = TlsFiles(Path(tls[0]), Path(tls[1]), generated=False) if tls else None
        self._server = ThreadedServer(Starlette(routes=self.api.routes()), host, port, files, name="pydcap-sim-azure")

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
    def cache_status(self) -> int | None:
        return self.api.cache_status

    @cache_status.setter
    def cache_status(self, status: int | None) -> None:
        self.api.cache_status = status

    @property
    def location(self) -> str:
        return self.api.location

    @location.setter
    def location(self, location: str) -> None:
        self.api.location = location

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def root(self) -> str:
        host = f"[{self._server.host}]" if ":" in self._server.host else self._server.host
        return f"{self.scheme}://{host}:{self._server.port}"

    @property
    def instance_url(self) -> str:
        return f"{self.root}{INSTANCE_METADATA_PATH}"

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
