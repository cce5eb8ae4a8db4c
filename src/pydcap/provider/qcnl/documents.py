"""The documents the QCNL provider asks for: what each must be (its ``pydcap.cache`` entry key), its URL and
cache kind, and how an answer is read (Intel's headers, the issuer chain, the PCK certificate chain). URLs are
Intel's, byte for byte (upper-case hex parameters), as the sha256 of a URL names its ``.dcap-qcnl`` cache item.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pydcap.intel import EntryKey, EntryKind, Tee
from pydcap.intel import protocol as api
from pydcap.provider import codes
from pydcap.provider.errors import MalformedResponse, error_for
from pydcap.provider.interface import CacheKind, PckCertChain, PlatformId
from pydcap.provider.qcnl.cache_item import cache_key
from pydcap.provider.qcnl.config import QcnlConfig
from pydcap.quote import TeeType

_PPID = re.compile(r"&encrypted_ppid=[0-9a-fA-F]*")
_TEES = {TeeType.SGX: Tee.SGX, TeeType.TDX: Tee.TDX}


@dataclass(frozen=True)
class Answer:
    """A service's answer (or a cached one): its headers, whatever their case, and its body."""

    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    def required_header(self, name: str) -> str:
        value = self.header(name)
        if value is None:
            raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, f"the response has no {name} header")
        return value


@dataclass(frozen=True)
class Document:
    """One document QCNL asks for: the cache entry it must be (``key``), where it is asked, how it is cached
    (``kind``; None: never, as a ``local_pck_url`` answer), the code a 404 gets, the headers its issuer chain
    may come in (the first present wins) and the request's own headers."""

    key: EntryKey
    url: str
    kind: CacheKind | None
    not_found: int
    chain_headers: tuple[str, ...] = ()
    request_headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def cache_name(self) -> str:
        return cache_key(_PPID.sub("", self.url))  # the encrypted PPID is not part of the key

    @property
    def shown_url(self) -> str:
        return shown(self.url)

    def issuer_chain(self, answer: Answer) -> bytes:
        """The answer's issuer chain (PEM; empty for a document without one)."""
        for name in self.chain_headers:
            value = answer.header(name)
            if value is not None:
                chain = api.url_decoded(value)
                if not chain.strip() and self.key.kind is EntryKind.PCK_CERTIFICATE:
                    raise MalformedResponse(
                        codes.ERROR_MESSAGE_PARSING_ERROR, "the PCK certificate issuer chain is empty"
                    )
                return chain
        if self.chain_headers:
            names = " or ".join(self.chain_headers)
            raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, f"the response has no {names} header")
        return b""

    def pck_meta(self, answer: Answer) -> dict[str, str]:
        """What a PCK answer says about its certificate (``SGX-TCBm``, ``SGX-FMSPC``), for admission to check."""
        meta = {"tcbm": answer.required_header(api.TCBM).strip().lower()}
        fmspc = answer.header(api.FMSPC)
        if fmspc is not None:
            meta["fmspc"] = fmspc.strip().lower()
        return meta


@dataclass(frozen=True)
class Admitted:
    """An answer that passed admission for ``document``; ``cache_until`` is how long it may be cached (its own
    freshness, or, when it came from memory, the expiry it was kept with)."""

    document: Document
    answer: Answer
    cache_until: int

    @property
    def body(self) -> bytes:
        return self.answer.body

    @property
    def issuer_chain(self) -> bytes:
        return self.document.issuer_chain(self.answer)

    def pck_chain(self) -> PckCertChain:
        """Leaf (the body), then the issuer chain; the TCB it certifies from ``SGX-TCBm``."""
        pem = self.body.strip() + b"\n" + self.issuer_chain
        return PckCertChain.from_tcbm(pem, self.answer.required_header(api.TCBM))


def _hex(value: bytes) -> str:
    """Bytes in a URL as Intel's library writes them (upper-case hex): the URL names the shared cache item."""
    return value.hex().upper()


def shown(url: str) -> str:
    """A URL as logs and errors show it: without the encrypted PPID (long, and the platform's to keep)."""
    return _PPID.sub("&encrypted_ppid=...", url)


class QcnlDocuments:
    """The documents a ``QcnlConfig`` makes QCNL ask for, at Intel's URLs with Intel's parameters."""

    def __init__(self, config: QcnlConfig) -> None:
        self.config = config

    def pck_certificate(self, service: str, platform: PlatformId, kind: CacheKind | None) -> Document:
        """The platform's PCK certificate from ``service`` (``pccs_url`` or ``local_pck_url``)."""
        c = self.config
        ppid = platform.encrypted_ppid or bytes(384)  # QCNL sends zeros when there is none
        query = (
            f"pckcert?qeid={_hex(platform.qe_id)}&encrypted_ppid={_hex(ppid)}&cpusvn={_hex(platform.cpu_svn)}"
            f"&pcesvn={platform.pce_svn_hex.upper()}&pceid={platform.pce_id_hex.upper()}"
        )
        query += "".join(f"&{k}={v}" for k, v in c.get_cert_params.items())
        key = EntryKey.pck_certificate(platform)
        return Document(
            key,
            service + query,
            kind,
            codes.NO_PLATFORM_CERT_DATA,
            api.PCK_CERTIFICATE_CHAIN_HEADERS,
            dict(c.get_cert_headers),
        )

    def pck_crl(self, ca: str) -> Document:
        c = self.config
        url = f"{c.collateral_url}pckcrl?ca={ca}" + ("&encoding=der" if c.crls_as_der else "")
        return _collateral(EntryKey.pck_crl(ca), url, codes.NO_QUOTE_COLLATERAL_DATA, *api.PCK_CRL_CHAIN_HEADERS)

    def tcb_info(self, fmspc: bytes, tee: TeeType) -> Document:
        update = self.config.tcb_update_type
        url = f"{self._base(tee)}tcb?fmspc={_hex(fmspc)}&update={update}"
        key = EntryKey.tcb_info(_TEES[tee], fmspc, update)
        return _collateral(key, url, codes.TCBINFO_NOT_FOUND, *api.TCB_INFO_CHAIN_HEADERS_V4)

    def qe_identity(self, tee: TeeType) -> Document:
        update = self.config.tcb_update_type
        url = f"{self._base(tee)}qe/identity?update={update}"
        key = EntryKey.qe_identity(_TEES[tee], update)
        return _collateral(key, url, codes.QEIDENTITY_NOT_FOUND, api.ENCLAVE_IDENTITY_ISSUER_CHAIN)

    def qve_identity(self) -> Document:
        c = self.config
        url = f"{c.collateral_url}qve/identity?update={c.tcb_update_type}"
        key = EntryKey.qve_identity(c.tcb_update_type)
        return _collateral(key, url, codes.NO_QVE_IDENTITY_DATA, api.ENCLAVE_IDENTITY_ISSUER_CHAIN)

    def root_ca_crl(self, distribution_point: Callable[[], str]) -> Document:
        """By Intel's route: the root certificate's CRL distribution point (PCS), ``crl?uri=`` (API 3.1) or
        ``rootcacrl`` (3.0); ``distribution_point`` is asked only by the first two."""
        c = self.config
        route = c.root_ca_crl_route
        if route == "rootcacrl":
            url = f"{c.collateral_url}rootcacrl"
        else:
            cdp = distribution_point()
            url = cdp if route == "cdp" else f"{c.collateral_url}crl?uri={cdp}"
        return _collateral(EntryKey.root_ca_crl(), url, codes.NO_QUOTE_COLLATERAL_DATA)

    def _base(self, tee: TeeType) -> str:
        c = self.config
        base = c.collateral_url if tee == TeeType.SGX else c.tdx_collateral_url
        if base is None:
            raise error_for(codes.ERROR_UNEXPECTED, f"{c.collateral_url} has no /sgx/ to turn into /tdx/")
        return base


def _collateral(key: EntryKey, url: str, not_found: int, *chain_headers: str) -> Document:
    return Document(key, url, CacheKind.QV_COLLATERAL, not_found, chain_headers)
