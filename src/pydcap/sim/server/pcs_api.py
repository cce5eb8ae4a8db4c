"""Intel's PCS API (v4, and v3 where it differs) served from a ``SimulatedIntel``, as a Starlette application.

Endpoints, parameters, headers (URL-encoded PEM issuer chains, ``SGX-TCBm``, ``SGX-FMSPC``, ``Request-ID``...)
and status codes follow Intel's PCS: 400 carries ``Error-Code`` and ``Error-Message``, 404 means not found,
410 an evaluation data number no longer served, 401 a missing or wrong ``Ocp-Apim-Subscription-Key`` on the
PCK certificate endpoints when a key is configured; a ``pckcerts`` entry whose certificate is withheld says
"Not available".
"""

from __future__ import annotations

import hmac
import json
import re
import struct
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pydcap.intel import protocol as api
from pydcap.intel.protocol import url_encoded
from pydcap.sim.intel import SimulatedIntel
from pydcap.sim.pki import pem_chain
from pydcap.sim.platform import IssuedPck, SimulatedPlatform

JSON = "application/json"
PEM = "application/x-pem-file"
CRL = "application/pkix-crl"
NOT_AVAILABLE = "Not available"  # a pckcerts entry whose certificate PCS has not generated yet
_HEX = re.compile(r"[0-9a-fA-F]*")
_NUMBER = re.compile(r"[0-9]+")

Handler = Callable[[Request], Awaitable[Response]]


class BadRequest(Exception):
    """A request PCS would refuse with 400."""

    def __init__(self, message: str, code: str = "InvalidRequestSyntax") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def respond(
    body: bytes | str = b"", status: int = 200, media_type: str | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    """A response with PCS's ``Request-ID`` header."""
    all_headers = {api.REQUEST_ID: uuid.uuid4().hex, **(headers or {})}
    return Response(body, status_code=status, media_type=media_type, headers=all_headers)


def _hex_param(value: str | None, name: str, size: int | None = None) -> bytes:
    if value is None:
        raise BadRequest(f"{name} is required")
    if not _HEX.fullmatch(value) or len(value) % 2 or (size is not None and len(value) != 2 * size):
        expected = f"{2 * size} hexadecimal characters" if size else "hexadecimal"
        raise BadRequest(f"{name} must be {expected}")
    return bytes.fromhex(value)


class PcsApi:
    """The PCS endpoints of one simulated Intel."""

    def __init__(self, intel: SimulatedIntel, api_key: str | None = None) -> None:
        self.intel = intel
        self.api_key = api_key

    # ---- helpers -------------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        if self.api_key is None:
            return True
        given = request.headers.get(api.SUBSCRIPTION_KEY, "")
        return hmac.compare_digest(given.encode(), self.api_key.encode())

    def _evaluation(self, request: Request) -> tuple[str | None, int | None]:
        update = request.query_params.get("update")
        number = request.query_params.get("tcbEvaluationDataNumber")
        if update is not None and number is not None:
            raise BadRequest("update and tcbEvaluationDataNumber cannot be used together")
        if update is not None and update not in ("early", "standard"):
            raise BadRequest("update must be early or standard")
        if number is not None and not _NUMBER.fullmatch(number):
            raise BadRequest("tcbEvaluationDataNumber must be a number")
        return update, int(number) if number is not None else None

    def _missing_evaluation(self, number: int | None) -> Response | None:
        """410 for an evaluation data number no longer served, 404 for one never issued."""
        numbers = self.intel.catalog.numbers
        if number is None or number in numbers:
            return None
        return respond(status=410 if number < min(numbers) else 404)

    def _pck_headers(self, platform: SimulatedPlatform) -> dict[str, str]:
        """The headers of both PCK certificate endpoints; the chain is the one that certified ``platform``."""
        return {
            api.PCK_CERTIFICATE_ISSUER_CHAIN: url_encoded(pem_chain(platform.issuer, platform.intel.pki.root)),
            api.FMSPC: platform.fmspc.hex().upper(),
            api.PCK_CERTIFICATE_CA_TYPE: platform.ca,
        }

    def _pck_response(self, platform: SimulatedPlatform, pck: IssuedPck | None) -> Response:
        if pck is None:
            return respond(status=404)
        return respond(pck.pem, media_type=PEM, headers={api.TCBM: pck.tcbm, **self._pck_headers(platform)})

    def _pckcerts_response(self, platform: SimulatedPlatform) -> Response:
        body = [
            {"tcb": tcb, "tcbm": tcbm, "cert": NOT_AVAILABLE if pem is None else url_encoded(pem)}
            for tcb, tcbm, pem in self.intel.pck_certificates(platform)
        ]
        return respond(json.dumps(body, separators=(",", ":")), media_type=JSON, headers=self._pck_headers(platform))

    @staticmethod
    async def _pck_params(request: Request) -> Mapping[str, Any]:
        """The parameters of a PCK certificate request: the query of a GET, the JSON object of a POST."""
        if request.method != "POST":
            return request.query_params
        try:
            body = json.loads(await request.body())
        except ValueError as exc:
            raise BadRequest("the body is not JSON") from exc
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        return body

    def _lookup(self, params: Mapping[str, Any]) -> SimulatedPlatform | None:
        """The platform a PCK certificate request names (by manifest, encrypted PPID or QE ID) with its PCE-ID."""
        pce_id = _hex_param(params.get("pceid"), "pceid", 2)
        find = self.intel.find_platform
        if params.get("platformManifest") is not None:
            platform = find(platform_manifest=_hex_param(params["platformManifest"], "platformManifest"))
        elif params.get("encrypted_ppid") is not None:
            platform = find(encrypted_ppid=_hex_param(params["encrypted_ppid"], "encrypted_ppid", 384))
        elif params.get("qeid") is not None:  # the PCCS flavour of the request
            platform = find(qe_id=_hex_param(params["qeid"], "qeid"))
        else:
            raise BadRequest("encrypted_ppid (or platformManifest) is required")
        return platform if platform is not None and platform.pce_id == pce_id else None

    def _pck_for(self, params: Mapping[str, Any]) -> Response:
        cpu_svn = _hex_param(params.get("cpusvn"), "cpusvn", 16)
        pce_svn = struct.unpack("<H", _hex_param(params.get("pcesvn"), "pcesvn", 2))[0]
        platform = self._lookup(params)
        if platform is None:
            return respond(status=404)
        return self._pck_response(platform, self.intel.select_pck(platform, cpu_svn, pce_svn))

    # ---- endpoints -----------------------------------------------------------------------------

    async def pckcert(self, request: Request) -> Response:
        if not self._authorized(request):
            return respond(status=401)
        return self._pck_for(await self._pck_params(request))

    async def pckcerts(self, request: Request) -> Response:
        if not self._authorized(request):
            return respond(status=401)
        platform = self._lookup(await self._pck_params(request))
        return respond(status=404) if platform is None else self._pckcerts_response(platform)

    async def pckcrl(self, request: Request) -> Response:
        ca = request.query_params.get("ca")
        if ca not in ("processor", "platform"):
            raise BadRequest("ca must be processor or platform")
        encoding = request.query_params.get("encoding", "pem")
        if encoding not in ("pem", "der"):
            raise BadRequest("encoding must be pem or der")
        der = self.intel.pck_crl(ca)
        headers = {api.PCK_CRL_ISSUER_CHAIN: url_encoded(self.intel.pck_crl_issuer_chain(ca))}
        if encoding == "der":
            return respond(der, media_type=CRL, headers=headers)
        pem = x509.load_der_x509_crl(der).public_bytes(Encoding.PEM)
        return respond(pem, media_type=PEM, headers=headers)

    async def tcb(self, request: Request) -> Response:
        tee, version = request.path_params["tee"], request.path_params["api"]
        fmspc = _hex_param(request.query_params.get("fmspc"), "fmspc", 6)
        update, number = self._evaluation(request)
        missing = self._missing_evaluation(number)
        if missing is not None:
            return missing
        try:
            body = self.intel.tcb_info(
                fmspc, tee, update=update, evaluation=number, version=3 if version == "v4" else 2
            )
        except LookupError:
            return respond(status=404)
        header = api.TCB_INFO_ISSUER_CHAIN if version == "v4" else api.SGX_TCB_INFO_ISSUER_CHAIN
        return respond(body, media_type=JSON, headers={header: url_encoded(self.intel.signing_chain)})

    def _identity(self, request: Request, enclave_id: str) -> Response:
        update, number = self._evaluation(request)
        missing = self._missing_evaluation(number)
        if missing is not None:
            return missing
        try:
            body = self.intel.enclave_identity(
                enclave_id, update=update, evaluation=number, advisories=request.path_params["api"] == "v4"
            )
        except LookupError:
            return respond(status=404)
        return respond(
            body, media_type=JSON, headers={api.ENCLAVE_IDENTITY_ISSUER_CHAIN: url_encoded(self.intel.signing_chain)}
        )

    async def qe_identity(self, request: Request) -> Response:
        return self._identity(request, "TD_QE" if request.path_params["tee"] == "tdx" else "QE")

    async def qve_identity(self, request: Request) -> Response:
        return self._identity(request, "QVE")

    async def rootcacrl(self, request: Request) -> Response:
        """The root CA CRL; hex-encoded DER as Intel's PCCS serves it, raw DER with ``encoding=der``."""
        der = self.intel.root_ca_crl()
        return respond(der if request.query_params.get("encoding") == "der" else der.hex(), media_type=CRL)

    async def crl(self, request: Request) -> Response:
        uri = request.query_params.get("uri")
        if not uri or len(uri) > 2048:
            raise BadRequest("uri is required (at most 2048 characters)")
        der = self.intel.crl_for_uri(uri)
        return respond(status=404) if der is None else respond(der, media_type=CRL)

    async def fmspcs(self, request: Request) -> Response:
        segment = request.query_params.get("platform", "all")
        if segment not in ("all", "client", "E3", "E5"):
            raise BadRequest("platform must be all, client, E3 or E5")
        return respond(json.dumps(self.intel.fmspcs(segment), separators=(",", ":")), media_type=JSON)

    async def evaluation_numbers(self, request: Request) -> Response:
        body = self.intel.tcb_evaluation_data_numbers(request.path_params["tee"])
        return respond(
            body,
            media_type=JSON,
            headers={api.TCB_EVALUATION_DATA_NUMBERS_ISSUER_CHAIN: url_encoded(self.intel.signing_chain)},
        )

    # ---- routing -------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """``/{sgx,tdx}/certification/{v3,v4}/...`` routes, each answering 400 on a ``BadRequest``."""
        table: list[tuple[str, tuple[str, ...], tuple[str, ...], Handler, tuple[str, ...]]] = [
            (api.PCK_CERTIFICATE, ("sgx",), ("v3", "v4"), self.pckcert, ("GET", "POST")),
            (api.PCK_CERTIFICATES, ("sgx",), ("v3", "v4"), self.pckcerts, ("GET", "POST")),
            (api.PCK_CRL, ("sgx",), ("v3", "v4"), self.pckcrl, ("GET",)),
            (api.TCB_INFO, ("sgx",), ("v3", "v4"), self.tcb, ("GET",)),
            (api.TCB_INFO, ("tdx",), ("v4",), self.tcb, ("GET",)),
            (api.QE_IDENTITY, ("sgx",), ("v3", "v4"), self.qe_identity, ("GET",)),
            (api.QE_IDENTITY, ("tdx",), ("v4",), self.qe_identity, ("GET",)),
            (api.QVE_IDENTITY, ("sgx",), ("v3", "v4"), self.qve_identity, ("GET",)),
            (api.ROOT_CA_CRL, ("sgx",), ("v3", "v4"), self.rootcacrl, ("GET",)),
            (api.CRL, ("sgx",), ("v3", "v4"), self.crl, ("GET",)),
            (api.FMSPCS, ("sgx",), ("v4",), self.fmspcs, ("GET",)),
            (api.TCB_EVALUATION_DATA_NUMBERS, ("sgx", "tdx"), ("v4",), self.evaluation_numbers, ("GET",)),
        ]
        routes = []
        for path, tees, apis, handler, methods in table:
            for tee in tees:
                for version in apis:
                    routes.append(
                        Route(
                            f"/{tee}/certification/{version}/{path}",
                            _endpoint(handler, tee, version),
                            methods=list(methods),
                        )
                    )
        return routes


def _endpoint(handler: Handler, tee: str, version: str) -> Handler:
    async def endpoint(request: Request) -> Response:
        request.path_params.update({"tee": tee, "api": version})
        try:
            return await handler(request)
        except BadRequest as exc:
            return respond(status=400, headers={"Error-Code": exc.code, "Error-Message": exc.message})

    return endpoint
