"""The Intel QCNL provider in Python: a PCCS (or Intel PCS) client that behaves as Intel's QPL/QCNL does under a
``QcnlConfig``: the same URLs, parameters, retries, status-to-error mapping, memory and ``.dcap-qcnl/`` file
cache, and ``local_cache_only`` PCK certificates; the ``httpx`` transport may be injected.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import unquote

import httpx
from cryptography import x509

from pydcap.collateral import Collateral, SignedDocument
from pydcap.errors import FormatError
from pydcap.pki import CertificateChain
from pydcap.pki.crl import crl_der
from pydcap.provider import codes
from pydcap.provider.errors import MalformedResponse, ProviderError, error_for
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
from pydcap.provider.qcnl_cache import QcnlCache
from pydcap.provider.qcnl_cache_item import cache_key
from pydcap.provider.qcnl_config import QcnlConfig, load_qcnl_config
from pydcap.provider.qcnl_local_pck import local_pck_cert_chain
from pydcap.provider.service_probe import certificate_problem
from pydcap.quote import TeeType

T = TypeVar("T")
_MAX_AGE = re.compile(r"max-age=(\d+)")
_PPID = re.compile(r"&encrypted_ppid=[0-9a-fA-F]*")
_STATUS_CODES = {461: codes.PLATFORM_UNKNOWN, 462: codes.CERTS_UNAVAILABLE, 503: codes.SERVICE_UNAVAILABLE}


@dataclass(frozen=True)
class _Answer:
    headers: Mapping[str, str]
    body: bytes


class QcnlProvider(QuoteProvider):
    """PCK certificates from ``pccs_url`` (``local_pck_url`` first), or only from local cache files under
    ``local_cache_only``; collateral from ``collateral_service``. Answers are cached as Intel's QCNL caches
    them: in memory, and in Intel's cache files in the directory ``env`` (default: ``os.environ``) selects."""

    name = "intel-qcnl"

    def __init__(
        self,
        config: QcnlConfig | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config if config is not None else load_qcnl_config(env=env)
        self._http = httpx.Client(verify=self.config.use_secure_cert, timeout=timeout, transport=transport)
        self._sleep = sleep
        self._clock = clock
        self._logger: LogCallback | None = None
        self._log_level = LogLevel.ERROR
        self.cache = QcnlCache.from_environment(env, clock=clock, log=self._say)

    # ---- the interface -------------------------------------------------------------------------

    def pck_cert_chain(self, platform: PlatformId) -> PckCertChain:
        c = self.config
        if c.local_cache_only:  # nothing asked of any service, local or remote
            return local_pck_cert_chain(self.cache, platform, self._clock(), self._say)
        ppid = platform.encrypted_ppid or bytes(384)  # QCNL sends zeros when there is none
        query = (
            f"pckcert?qeid={platform.qe_id.hex()}&encrypted_ppid={ppid.hex()}&cpusvn={platform.cpu_svn.hex()}"
            f"&pcesvn={platform.pce_svn_hex}&pceid={platform.pce_id_hex}"
        )
        query += "".join(f"&{k}={v}" for k, v in c.get_cert_params.items())
        headers = dict(c.get_cert_headers)
        if c.local_pck_url:
            try:  # the local service is tried first and never cached; only its failure to answer falls through
                answer = self._fetch(c.local_pck_url + query, headers, None, codes.NO_PLATFORM_CERT_DATA, _same)
            except ProviderError as exc:
                self._say(LogLevel.INFO, f"[QCNL] local_pck_url failed ({exc.name}); trying pccs_url")
            else:
                return _pck_chain(answer)
        return self._fetch(c.pccs_url + query, headers, CacheKind.CERTIFICATE, codes.NO_PLATFORM_CERT_DATA, _pck_chain)

    def verification_collateral(self, fmspc: bytes, ca: CaType, tee: TeeType = TeeType.SGX) -> Collateral:
        check_request(fmspc, ca, tee)
        c = self.config
        base = c.collateral_url if tee == TeeType.SGX else c.tdx_collateral_url
        if base is None:
            raise error_for(codes.ERROR_UNEXPECTED, f"{c.collateral_url} has no /sgx/ to turn into /tdx/")
        update = c.tcb_update_type
        crl_query = f"pckcrl?ca={ca}" + ("&encoding=der" if c.crls_as_der else "")
        pck_crl, pck_crl_chain = self._collateral(
            c.collateral_url + crl_query, codes.NO_QUOTE_COLLATERAL_DATA, "SGX-PCK-CRL-Issuer-Chain"
        )
        tcb_info, tcb_info_chain = self._collateral(
            f"{base}tcb?fmspc={fmspc.hex()}&update={update}",
            codes.TCBINFO_NOT_FOUND,
            "TCB-Info-Issuer-Chain",
            "SGX-TCB-Info-Issuer-Chain",
        )
        qe_identity, qe_chain = self._collateral(
            f"{base}qe/identity?update={update}", codes.QEIDENTITY_NOT_FOUND, "SGX-Enclave-Identity-Issuer-Chain"
        )
        try:
            return Collateral.create(
                pck_crl=pck_crl,
                pck_crl_issuer_chain=pck_crl_chain,
                root_ca_crl=self._root_ca_crl(qe_chain),
                tcb_info=tcb_info,
                tcb_info_issuer_chain=tcb_info_chain,
                qe_identity=qe_identity,
                qe_identity_issuer_chain=qe_chain,
            )
        except FormatError as exc:
            raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, str(exc)) from exc

    def qve_identity(self) -> QveIdentity:
        c = self.config
        identity, chain = self._collateral(
            f"{c.collateral_url}qve/identity?update={c.tcb_update_type}",
            codes.NO_QVE_IDENTITY_DATA,
            "SGX-Enclave-Identity-Issuer-Chain",
        )
        try:
            document = SignedDocument.parse(identity, "enclaveIdentity", "qve_identity")
        except FormatError as exc:
            raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, str(exc)) from exc
        return QveIdentity(document, chain)

    def root_ca_crl(self) -> bytes:
        c = self.config
        _, qe_chain = self._collateral(
            f"{c.collateral_url}qe/identity?update={c.tcb_update_type}",
            codes.QEIDENTITY_NOT_FOUND,
            "SGX-Enclave-Identity-Issuer-Chain",
        )
        crl = self._root_ca_crl(qe_chain)
        try:
            return crl_der(crl)
        except FormatError as exc:
            raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, f"root CA CRL: {exc}") from exc

    def clear_cache(self, kinds: CacheKind = CacheKind.ALL) -> None:
        """Forget cached items of these kinds in memory and in the cache directory; ``MULTICERTS`` (part of
        ``ALL``) deletes the local PCK cache files ``local_cache_only`` reads, as Intel's library does."""
        self.cache.clear(kinds)

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
        return self._collateral(url, codes.NO_QUOTE_COLLATERAL_DATA)[0]

    def _collateral(self, url: str, not_found: int, *chain_headers: str) -> tuple[bytes, bytes]:
        """A document and its issuer chain (from the first of ``chain_headers`` present; none asked: empty)."""

        def document(answer: _Answer) -> tuple[bytes, bytes]:
            return answer.body, _chain(answer, *chain_headers) if chain_headers else b""

        return self._fetch(url, {}, CacheKind.QV_COLLATERAL, not_found, document)

    def _fetch(
        self,
        url: str,
        headers: Mapping[str, str],
        kind: CacheKind | None,
        not_found: int,
        read: Callable[[_Answer], T],
    ) -> T:
        """``read`` of the answer: from the cache when ``kind`` is given and a fresh item is there, else from
        the service (with retries); an answer is cached, as Intel's QCNL does, only once ``read`` accepts it."""
        key = cache_key(_PPID.sub("", url))  # the encrypted PPID is not part of the key
        cached = self.cache.response(key) if kind is not None else None
        if cached is not None:
            return read(_Answer(cached.headers(), cached.body))
        response = self._get(url, headers, not_found)
        value = read(_Answer(dict(response.headers), response.content))
        if kind is not None:
            match = _MAX_AGE.search(response.headers.get("Cache-Control", ""))
            configured = (
                self.config.pck_cache_seconds if kind == CacheKind.CERTIFICATE else self.config.collateral_cache_seconds
            )
            seconds = int(match.group(1)) if match and int(match.group(1)) > 0 else configured  # max-age wins
            if seconds > 0:
                raw = {k.decode("latin-1"): v.decode("latin-1") for k, v in response.headers.raw}
                self.cache.keep(key, kind, raw, response.content, seconds)
        return value

    def _get(self, url: str, headers: Mapping[str, str], not_found: int) -> httpx.Response:
        """A 200 response with a body, after Intel's retries; a named error otherwise."""
        shown = _PPID.sub("&encrypted_ppid=...", url)  # long, and the platform's to keep
        delays = self.config.retry_delays()
        attempt = 0
        while True:
            code = self._attempt(url, shown, headers)
            if isinstance(code, httpx.Response):
                response = code
                if response.status_code == 200:
                    if not response.content:
                        raise error_for(codes.ERROR_UNEXPECTED, f"{shown} answered HTTP 200 with an empty body")
                    return response
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


def _same(answer: _Answer) -> _Answer:
    return answer


def _pck_chain(answer: _Answer) -> PckCertChain:
    """Leaf (the body), then the issuer chain; the TCB it certifies from ``SGX-TCBm``."""
    tcbm = _header(answer, "SGX-TCBm")
    chain = _chain(answer, "SGX-PCK-Certificate-Issuer-Chain")
    if not chain:
        raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, "the PCK certificate issuer chain is empty")
    return PckCertChain.from_tcbm(answer.body.strip() + b"\n" + chain, tcbm)


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
