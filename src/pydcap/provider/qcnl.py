"""The Intel QCNL provider in Python: a PCCS (or Intel PCS) client that behaves as Intel's QPL/QCNL does
under a ``QcnlConfig``: the same URLs, parameters, retries, status-to-error mapping and cache expiry.

The HTTP layer is an ``httpx`` transport the caller may inject (tests use real loopback servers).
``local_cache_only`` (Intel's pre-populated cache files) is refused: use Intel's native plugin for it.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote

import httpx
from cryptography import x509

from pydcap.collateral import Collateral, SignedDocument
from pydcap.errors import FormatError
from pydcap.pki import CertificateChain
from pydcap.pki.crl import crl_der
from pydcap.provider import codes
from pydcap.provider.errors import MalformedResponse, ProviderConfigError, ProviderError, error_for
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
from pydcap.provider.qcnl_config import QcnlConfig, load_qcnl_config
from pydcap.provider.service_probe import certificate_problem
from pydcap.quote import TeeType

CACHE_ENTRIES = 20  # Intel's in-memory LRU size
_MAX_AGE = re.compile(r"max-age=(\d+)")
_PPID = re.compile(r"&encrypted_ppid=[0-9a-fA-F]*")
_STATUS_CODES = {461: codes.PLATFORM_UNKNOWN, 462: codes.CERTS_UNAVAILABLE, 503: codes.SERVICE_UNAVAILABLE}


@dataclass(frozen=True)
class _Answer:
    headers: Mapping[str, str]
    body: bytes
    expires: float


class QcnlProvider(QuoteProvider):
    """PCK certificates from ``pccs_url`` (``local_pck_url`` first), collateral from ``collateral_service``."""

    name = "intel-qcnl"

    def __init__(
        self,
        config: QcnlConfig | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config if config is not None else load_qcnl_config()
        if self.config.local_cache_only:
            raise ProviderConfigError(
                self.config.source or "QCNL configuration",
                "pydcap's QCNL provider does not read Intel's pre-populated cache files; use Intel's native "
                "plugin (libdcap_quoteprov.so) for local_cache_only",
                key="local_cache_only",
            )
        self._http = httpx.Client(verify=self.config.use_secure_cert, timeout=timeout, transport=transport)
        self._sleep = sleep
        self._clock = clock
        self._cache: OrderedDict[tuple[CacheKind, str], _Answer] = OrderedDict()
        self._lock = threading.Lock()
        self._logger: LogCallback | None = None
        self._log_level = LogLevel.ERROR

    # ---- the interface -------------------------------------------------------------------------

    def pck_cert_chain(self, platform: PlatformId) -> PckCertChain:
        c = self.config
        ppid = platform.encrypted_ppid or bytes(384)  # QCNL sends zeros when there is none
        query = (
            f"pckcert?qeid={platform.qe_id.hex()}&encrypted_ppid={ppid.hex()}&cpusvn={platform.cpu_svn.hex()}"
            f"&pcesvn={platform.pce_svn_hex}&pceid={platform.pce_id_hex}"
        )
        query += "".join(f"&{k}={v}" for k, v in c.get_cert_params.items())
        headers = dict(c.get_cert_headers)
        answer: _Answer | None = None
        if c.local_pck_url:
            try:  # the local service is tried first and never cached
                answer = self._fetch(c.local_pck_url + query, headers, None, codes.NO_PLATFORM_CERT_DATA)
            except ProviderError as exc:
                self._say(LogLevel.INFO, f"[QCNL] local_pck_url failed ({exc.name}); trying pccs_url")
        if answer is None:
            answer = self._fetch(c.pccs_url + query, headers, CacheKind.CERTIFICATE, codes.NO_PLATFORM_CERT_DATA)
        tcbm = _header(answer, "SGX-TCBm")
        chain = unquote(_header(answer, "SGX-PCK-Certificate-Issuer-Chain")).encode()
        leaf = answer.body.strip() + b"\n"
        return PckCertChain.from_tcbm(leaf + chain, tcbm)

    def verification_collateral(self, fmspc: bytes, ca: CaType, tee: TeeType = TeeType.SGX) -> Collateral:
        check_request(fmspc, ca, tee)
        c = self.config
        base = c.collateral_url if tee == TeeType.SGX else c.tdx_collateral_url
        if base is None:
            raise error_for(codes.ERROR_UNEXPECTED, f"{c.collateral_url} has no /sgx/ to turn into /tdx/")
        update = c.tcb_update_type
        crl_query = f"pckcrl?ca={ca}" + ("&encoding=der" if c.crls_as_der else "")
        pck_crl = self._collateral(c.collateral_url + crl_query, codes.NO_QUOTE_COLLATERAL_DATA)
        tcb_info = self._collateral(f"{base}tcb?fmspc={fmspc.hex()}&update={update}", codes.TCBINFO_NOT_FOUND)
        qe_identity = self._collateral(f"{base}qe/identity?update={update}", codes.QEIDENTITY_NOT_FOUND)
        qe_chain = _chain(qe_identity, "SGX-Enclave-Identity-Issuer-Chain")
        try:
            return Collateral.create(
                pck_crl=pck_crl.body,
                pck_crl_issuer_chain=_chain(pck_crl, "SGX-PCK-CRL-Issuer-Chain"),
                root_ca_crl=self._root_ca_crl(qe_chain),
                tcb_info=tcb_info.body,
                tcb_info_issuer_chain=_chain(tcb_info, "TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"),
                qe_identity=qe_identity.body,
                qe_identity_issuer_chain=qe_chain,
            )
        except FormatError as exc:
            raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, str(exc)) from exc

    def qve_identity(self) -> QveIdentity:
        c = self.config
        answer = self._collateral(
            f"{c.collateral_url}qve/identity?update={c.tcb_update_type}", codes.NO_QVE_IDENTITY_DATA
        )
        try:
            document = SignedDocument.parse(answer.body, "enclaveIdentity", "qve_identity")
        except FormatError as exc:
            raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, str(exc)) from exc
        return QveIdentity(document, _chain(answer, "SGX-Enclave-Identity-Issuer-Chain"))

    def root_ca_crl(self) -> bytes:
        c = self.config
        qe_identity = self._collateral(
            f"{c.collateral_url}qe/identity?update={c.tcb_update_type}", codes.QEIDENTITY_NOT_FOUND
        )
        crl = self._root_ca_crl(_chain(qe_identity, "SGX-Enclave-Identity-Issuer-Chain"))
        try:
            return crl_der(crl)
        except FormatError as exc:
            raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, f"root CA CRL: {exc}") from exc

    def clear_cache(self, kinds: CacheKind = CacheKind.ALL) -> None:
        with self._lock:
            for key in [k for k in self._cache if k[0] & kinds]:
                del self._cache[key]

    def set_logging(self, callback: LogCallback | None, level: LogLevel = LogLevel.INFO) -> None:
        self._logger, self._log_level = callback, level

    def close(self) -> None:
        self._http.close()

    # ---- requests ------------------------------------------------------------------------------

    def _root_ca_crl(self, qe_chain: bytes) -> bytes:
        """By Intel's route: the root certificate's CDP (PCS), ``crl?uri=`` (API 3.1) or ``rootcacrl`` (3.0)."""
        c = self.config
        cdp = _root_cdp(qe_chain)
        if c.root_ca_crl_route == "cdp":
            url = cdp
        elif c.root_ca_crl_route == "crl":
            url = f"{c.collateral_url}crl?uri={cdp}"
        else:
            url = f"{c.collateral_url}rootcacrl"
        return self._collateral(url, codes.NO_QUOTE_COLLATERAL_DATA).body

    def _collateral(self, url: str, not_found: int) -> _Answer:
        return self._fetch(url, {}, CacheKind.QV_COLLATERAL, not_found)

    def _fetch(self, url: str, headers: Mapping[str, str], kind: CacheKind | None, not_found: int) -> _Answer:
        key = (kind, _PPID.sub("", url)) if kind is not None else None
        if key is not None:
            with self._lock:
                cached = self._cache.get(key)
                if cached is not None and cached.expires > self._clock():
                    self._cache.move_to_end(key)
                    self._say(LogLevel.DEBUG, f"[QCNL] cache hit for {_PPID.sub('', url)}")
                    return cached
                self._cache.pop(key, None)
        shown = _PPID.sub("&encrypted_ppid=...", url)  # long, and the platform's to keep
        delays = self.config.retry_delays()
        attempt = 0
        while True:
            code = self._attempt(url, shown, headers)
            if isinstance(code, httpx.Response):
                response = code
                if response.status_code == 200:
                    break
                code = _STATUS_CODES.get(response.status_code, codes.UNKNOWN_MESSAGE_RESPONSE)
                if response.status_code == 404:
                    code = not_found
                if response.status_code != 503:
                    raise error_for(code, f"{shown} answered HTTP {response.status_code}")
            if attempt >= len(delays):
                raise error_for(code, f"{shown} failed after {attempt + 1} attempt(s)")
            self._say(LogLevel.INFO, f"[QCNL] retrying {shown} in {delays[attempt]:g} s")
            self._sleep(delays[attempt])
            attempt += 1
        answer = _Answer(dict(response.headers), response.content, 0.0)
        default = (
            self.config.pck_cache_seconds if kind == CacheKind.CERTIFICATE else self.config.collateral_cache_seconds
        )
        match = _MAX_AGE.search(response.headers.get("Cache-Control", ""))
        lifetime = int(match.group(1)) if match and int(match.group(1)) > 0 else default
        if key is not None and lifetime > 0:
            answer = _Answer(answer.headers, answer.body, self._clock() + lifetime)
            with self._lock:
                self._cache[key] = answer
                while len(self._cache) > CACHE_ENTRIES:
                    self._cache.popitem(last=False)
        return answer

    def _attempt(self, url: str, shown: str, headers: Mapping[str, str]) -> httpx.Response | int:
        """One GET: the response, or the code of a transient failure (retried like a 503)."""
        self._say(LogLevel.INFO, f"[QCNL] GET {shown}")
        try:
            return self._http.get(url, headers=dict(headers))
        except httpx.TimeoutException:
            return codes.NETWORK_ERROR
        except httpx.TransportError as exc:
            if certificate_problem(exc):
                raise error_for(codes.ROOT_CA_UNTRUSTED, f"{shown}: {exc}") from exc
            return codes.NETWORK_ERROR

    def _say(self, level: LogLevel, message: str) -> None:
        if self._logger is not None and level <= self._log_level:
            self._logger(level, message)


def _header(answer: _Answer, name: str) -> str:
    for key, value in answer.headers.items():
        if key.lower() == name.lower():
            return value
    raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, f"the response has no {name} header")


def _chain(answer: _Answer, *names: str) -> bytes:
    for name in names:
        try:
            return unquote(_header(answer, name)).encode()
        except MalformedResponse:
            continue
    raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, f"the response has no {' or '.join(names)} header")


def _root_cdp(chain: bytes) -> str:
    """The CRL distribution point of the root certificate in an issuer chain (where its CRL lives)."""
    try:
        root = CertificateChain.parse(chain).root
        if root is None:
            raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, "the issuer chain has no root certificate")
        points = root.x509.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        name = points[0].full_name[0] if points and points[0].full_name else None
    except (FormatError, x509.ExtensionNotFound, ValueError) as exc:
        raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, f"no root CA CRL distribution point: {exc}") from exc
    if not isinstance(name, x509.UniformResourceIdentifier):
        raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, "the root's CRL distribution point is not a URI")
    return name.value
