"""The Intel QCNL provider in Python: a PCCS (or Intel PCS) client that behaves as Intel's QPL/QCNL does under a
``QcnlConfig`` (URLs, parameters, retries, errors, memory and ``.dcap-qcnl/`` cache, ``local_cache_only``), except
that every answer must pass ``pydcap.cache.admission`` against its trust root before it is cached or returned.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace

import httpx

from pydcap.cache.errors import UntrustedCollateralError
from pydcap.collateral import Collateral, SignedDocument
from pydcap.errors import FormatError
from pydcap.intel import EntryKind
from pydcap.pki import TrustRoot
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
from pydcap.provider.messages import ProviderLog
from pydcap.provider.qcnl.admission import QcnlAdmission
from pydcap.provider.qcnl.cache import CacheHit, QcnlCache
from pydcap.provider.qcnl.config import QcnlConfig, load_qcnl_config
from pydcap.provider.qcnl.documents import Admitted, Answer, Document, QcnlDocuments
from pydcap.provider.qcnl.local_pck import local_pck_cert_chain
from pydcap.provider.source_errors import provider_error
from pydcap.provider.trust import announce_root, trusted_root_from_env
from pydcap.quote import TeeType
from pydcap.sources.http import MAX_RESPONSE_BYTES, certificate_failure, read_limited

_MAX_AGE = re.compile(r"max-age=(\d+)")
_STATUS_CODES = {461: codes.PLATFORM_UNKNOWN, 462: codes.CERTS_UNAVAILABLE, 503: codes.SERVICE_UNAVAILABLE}

Found = dict[str, Admitted]
"""The documents one call has admitted so far, by URL: each is asked for and checked once per call."""


class _Refused(Exception):
    """Control flow: the answer itself failed admission (``error`` says how), not something it depends on."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(str(error))
        self.error = error


class QcnlProvider(QuoteProvider):
    """PCK certificates from ``pccs_url`` (``local_pck_url`` first), or only from local cache files under
    ``local_cache_only``; collateral from ``collateral_service``. Answers are cached as Intel's QCNL caches
    them: in memory, and in Intel's cache files in the directory ``env`` (default: ``os.environ``) selects.

    Unlike Intel's library, nothing is cached or returned before it verifies against ``trust`` (default:
    ``$PYDCAP_TRUSTED_ROOT`` in ``env``, else Intel's root; another root is announced as a warning), with the
    CRLs that takes fetched the same way; a cache file is checked when read, and deleted if it fails. A
    document is cached no longer than its own freshness on ``clock``; one already past it is returned uncached.
    """

    name = "intel-qcnl"

    def __init__(
        self,
        config: QcnlConfig | None = None,
        *,
        trust: TrustRoot | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config if config is not None else load_qcnl_config(env=env)
        self.trust = trust or trusted_root_from_env(env) or TrustRoot.intel()
        announce_root(self.trust, self.name)
        self._admission = QcnlAdmission(self.trust)
        self._documents = QcnlDocuments(self.config)
        self._http = httpx.Client(verify=self.config.use_secure_cert, timeout=timeout, transport=transport)
        self._sleep = sleep
        self._clock = clock
        self._log = ProviderLog("pydcap.provider.qcnl", None)  # as Intel's library: silent without a callback
        self.cache = QcnlCache.from_environment(env, clock=clock, log=self._log.say)

    # ---- the interface -------------------------------------------------------------------------

    def pck_cert_chain(self, platform: PlatformId) -> PckCertChain:
        c = self.config
        if c.local_cache_only:  # nothing asked of any service, local or remote
            return local_pck_cert_chain(self.cache, platform, self._clock(), self._say, self._admission)
        found = Found()
        if c.local_pck_url:
            local = self._documents.pck_certificate(c.local_pck_url, platform, None)
            try:  # the local service is tried first and never cached; only its failure to answer falls through
                response = self._get(local)
            except ProviderError as exc:
                self._say(LogLevel.INFO, f"[QCNL] local_pck_url failed ({exc.name}); trying pccs_url")
            else:
                return self._checked(local, _answer(response), found).pck_chain()
        document = self._documents.pck_certificate(c.pccs_url, platform, CacheKind.CERTIFICATE)
        return self._obtain(document, found).pck_chain()

    def verification_collateral(self, fmspc: bytes, ca: CaType, tee: TeeType = TeeType.SGX) -> Collateral:
        check_request(fmspc, ca, tee)
        d, found = self._documents, Found()
        asked = d.pck_crl(ca), d.tcb_info(fmspc, tee), d.qe_identity(tee)  # a URL that cannot be made fails first
        pck_crl, tcb_info, qe_identity = (self._obtain(document, found) for document in asked)
        root_ca_crl = self._obtain(self._root_ca_crl_document(qe_identity.document, qe_identity.answer), found)
        try:
            return Collateral.create(
                pck_crl=pck_crl.body,
                pck_crl_issuer_chain=pck_crl.issuer_chain,
                root_ca_crl=root_ca_crl.body,
                tcb_info=tcb_info.body,
                tcb_info_issuer_chain=tcb_info.issuer_chain,
                qe_identity=qe_identity.body,
                qe_identity_issuer_chain=qe_identity.issuer_chain,
            )
        except FormatError as exc:
            raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, str(exc)) from exc

    def qve_identity(self) -> QveIdentity:
        identity = self._obtain(self._documents.qve_identity(), Found())
        try:
            document = SignedDocument.parse(identity.body, "enclaveIdentity", "qve_identity")
        except FormatError as exc:
            raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, str(exc)) from exc
        return QveIdentity(document, identity.issuer_chain)

    def root_ca_crl(self) -> bytes:
        """By Intel's route, with the distribution point of the root of the SGX QE identity's chain."""
        found = Found()
        qe_identity = self._obtain(self._documents.qe_identity(TeeType.SGX), found)
        crl = self._obtain(self._root_ca_crl_document(qe_identity.document, qe_identity.answer), found)
        try:
            return crl_der(crl.body)
        except FormatError as exc:
            raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, f"root CA CRL: {exc}") from exc

    def clear_cache(self, kinds: CacheKind = CacheKind.ALL) -> None:
        """Forget cached items of these kinds in memory and in the cache directory; ``MULTICERTS`` (part of
        ``ALL``) deletes the local PCK cache files ``local_cache_only`` reads, as Intel's library does."""
        self.cache.clear(kinds)

    def set_logging(self, callback: LogCallback | None, level: LogLevel = LogLevel.INFO) -> None:
        self._log.set_callback(callback, level)

    def close(self) -> None:
        self._http.close()

    # ---- admitted documents --------------------------------------------------------------------

    def _obtain(self, document: Document, found: Found) -> Admitted:
        """The document, admitted: as this call already had it, from the cache (a file's item is checked first,
        and deleted if it fails) or from the service (checked before it is cached)."""
        admitted = found.get(document.url) or self._from_cache(document, found) or self._from_service(document, found)
        found[document.url] = admitted
        return admitted

    def _from_cache(self, document: Document, found: Found) -> Admitted | None:
        hit = self.cache.lookup(document.cache_name) if document.kind is not None else None
        if hit is None:
            return None
        answer = Answer(hit.response.headers(), hit.response.body)
        if not hit.from_file:  # memory holds only what was admitted before it was kept
            return Admitted(document, answer, hit.response.expiry)
        return self._from_file(document, hit, answer, found)

    def _from_file(self, document: Document, hit: CacheHit, answer: Answer, found: Found) -> Admitted | None:
        name = document.cache_name
        try:
            admitted = self._admit(document, answer, found, f"cache file {name}")
        except _Refused as exc:
            self.cache.discard(name, f"refused ({exc.error.detail})")
            return None
        if admitted.cache_until <= self._clock():
            self.cache.discard(name, "past the document's own freshness")
            return None
        expiry = min(hit.response.expiry, admitted.cache_until)
        self.cache.remember(name, replace(hit.response, expiry=expiry).encode())
        return admitted

    def _from_service(self, document: Document, found: Found) -> Admitted:
        response = self._get(document)
        admitted = self._checked(document, _answer(response), found)
        self._keep(document, response, admitted.cache_until)
        return admitted

    def _checked(self, document: Document, answer: Answer, found: Found) -> Admitted:
        """A service's answer, admitted; its failure is the call's."""
        try:
            return self._admit(document, answer, found, document.shown_url)
        except _Refused as exc:
            self._say(LogLevel.ERROR, f"[QCNL] refused, neither cached nor returned: {exc.error}")
            raise exc.error from exc.__cause__

    def _admit(self, document: Document, answer: Answer, found: Found, source: str) -> Admitted:
        """``_Refused`` if the answer itself fails; a failure to obtain a CRL it needs is raised as that is."""
        key = document.key
        with _refusals():
            chain = document.issuer_chain(answer)
            root = None if key.kind is EntryKind.ROOT_CA_CRL else self._root_ca_crl_document(document, answer, source)
            ca = self._admission.pck_ca(key, answer, source) if key.kind is EntryKind.PCK_CERTIFICATE else None
        pck_crl = self._obtain(self._documents.pck_crl(ca), found).body if ca is not None else None
        root_ca_crl = self._obtain(root, found).body if root is not None else None
        with _refusals():
            until = self._admission.admit(
                document, answer, chain, root_ca_crl=root_ca_crl, pck_crl=pck_crl, source=source
            )
        return Admitted(document, answer, until)

    def _root_ca_crl_document(self, of: Document, answer: Answer, source: str = "") -> Document:
        """The root CA CRL that admits ``of``, where the trusted root of its issuer chain says it is."""

        def distribution_point() -> str:
            chain = of.issuer_chain(answer)
            return self._admission.root_crl_distribution_point(of.key, chain, source or of.shown_url)

        return self._documents.root_ca_crl(distribution_point)

    def _keep(self, document: Document, response: httpx.Response, fresh_until: int) -> None:
        """Cache an admitted answer as Intel's QCNL does (``max-age`` over the configured hours), but never
        past the document's own freshness."""
        if document.kind is None:
            return
        match = _MAX_AGE.search(response.headers.get("Cache-Control", ""))
        c = self.config
        configured = c.pck_cache_seconds if document.kind == CacheKind.CERTIFICATE else c.collateral_cache_seconds
        seconds = int(match.group(1)) if match and int(match.group(1)) > 0 else configured  # max-age wins
        now = int(self._clock())
        if seconds <= 0:
            return
        if fresh_until <= now:
            self._say(LogLevel.WARNING, f"[QCNL] {document.shown_url}: already past its freshness; not cached")
            return
        raw = {k.decode("latin-1"): v.decode("latin-1") for k, v in response.headers.raw}
        self.cache.keep(document.cache_name, document.kind, raw, response.content, min(now + seconds, fresh_until))

    # ---- requests ------------------------------------------------------------------------------

    def _get(self, document: Document) -> httpx.Response:
        """A 200 response with a body, after Intel's retries; a named error otherwise."""
        shown = document.shown_url
        delays = self.config.retry_delays()
        attempt = 0
        while True:
            code = self._attempt(document.url, shown, document.request_headers)
            if isinstance(code, httpx.Response):
                response = code
                if response.status_code == 200:
                    if not response.content:
                        raise error_for(codes.ERROR_UNEXPECTED, f"{shown} answered HTTP 200 with an empty body")
                    return response
                code = _STATUS_CODES.get(response.status_code, codes.UNKNOWN_MESSAGE_RESPONSE)
                if response.status_code == 404:
                    code = document.not_found
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
            with self._http.stream("GET", url, headers=dict(headers)) as streamed:
                response = read_limited(streamed, MAX_RESPONSE_BYTES)
        except httpx.TimeoutException:
            return codes.NETWORK_ERROR
        except httpx.TransportError as exc:
            if certificate_failure(exc) is not None:
                raise error_for(codes.ROOT_CA_UNTRUSTED, f"{shown}: {exc}") from exc
            return codes.NETWORK_ERROR
        if response is None:
            raise error_for(
                codes.ERROR_MESSAGE_PARSING_ERROR, f"{shown}: the answer is larger than {MAX_RESPONSE_BYTES} bytes"
            )
        return response

    def _say(self, level: LogLevel, message: str) -> None:
        self._log.say(level, message)


def _answer(response: httpx.Response) -> Answer:
    return Answer(dict(response.headers), response.content)


@contextmanager
def _refusals() -> Iterator[None]:
    """Within it, a fault of the answer itself (malformed, or refused by admission) becomes ``_Refused``."""
    try:
        yield
    except UntrustedCollateralError as exc:
        raise _Refused(provider_error(exc)) from exc
    except MalformedResponse as exc:
        raise _Refused(exc) from exc
