"""Intel's ``platformcollateral`` JSON (what ``PUT platformcollateral`` and Intel's admin tool exchange):
importing it (everything verified against the trust root first; nothing stored unless all of it verifies)
and exporting the cache in the same format for an air-gapped PCCS.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from pydcap.cache import Entry, EntryKey, EntryKind, UntrustedCollateralError, admit
from pydcap.errors import FormatError
from pydcap.pccs.errors import IntegrityError, InvalidRequest, UpstreamFailed
from pydcap.pccs.platforms import pck_ca
from pydcap.pccs.registry import CertificateRecord, PlatformRecord, RawTcb
from pydcap.pccs.wire import url_encoded
from pydcap.pki import Certificate, PckCertificate, RevocationList
from pydcap.sources.models import Fetched, PckCa, Tee, Update

if TYPE_CHECKING:
    from pydcap.pccs.service import PccsService

PCK_CHAIN = "SGX-PCK-Certificate-Issuer-Chain"
TCB_CHAIN = "TCB-Info-Issuer-Chain"
TCB_CHAIN_V3 = "SGX-TCB-Info-Issuer-Chain"
IDENTITY_CHAIN = "SGX-Enclave-Identity-Issuer-Chain"
_IDENTITIES = {
    "qeidentity": (Tee.SGX, "qe"),
    "tdqeidentity": (Tee.TDX, "qe"),
    "qveidentity": (Tee.SGX, "qve"),
}
_HEX = re.compile(r"^([0-9a-fA-F]{2})*$")


@dataclass(frozen=True)
class ImportSummary:
    documents: int
    platforms: int
    certificates: int


@dataclass(frozen=True)
class _Document:
    key: EntryKey
    api: int
    fetched: Fetched


@dataclass(frozen=True)
class _PlatformImport:
    record: PlatformRecord
    certificates: list[CertificateRecord]
    raw_tcbs: list[RawTcb]


def _need(condition: bool, where: str, what: str) -> None:
    if not condition:
        raise InvalidRequest(f"{where}: {what}")


def _hex(value: Any, where: str, size: int | None = None, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{where}: must be a string of hexadecimal digits")
    if allow_empty and value == "":
        return ""
    _need(bool(value) and _HEX.match(value) is not None, where, "must be hexadecimal digits")
    _need(size is None or len(value) == size, where, f"must be {size} hexadecimal digits")
    return value.upper()


def _crl(value: Any, where: str) -> bytes:
    try:
        return RevocationList.parse(bytes.fromhex(_hex(value, where))).der
    except FormatError as exc:
        raise InvalidRequest(f"{where}: not a CRL: {exc}") from None


def _chain(value: Any, where: str) -> bytes:
    _need(isinstance(value, str) and "BEGIN" in unquote(value), where, "must be a URL-encoded PEM issuer chain")
    return unquote(str(value)).encode()


def _json_body(value: Any, where: str) -> bytes:
    """A signed document as Intel's PCCS stores it: a JSON object is re-serialised compactly (what Intel
    signs); a string is taken as it is."""
    if isinstance(value, str):
        return value.encode()
    _need(isinstance(value, dict), where, "must be a signed JSON document (object or string)")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _documents(collaterals: Mapping[str, Any], api: int) -> list[_Document]:
    certificates = collaterals.get("certificates") or {}
    _need(isinstance(certificates, dict), "collaterals.certificates", "must be an object")
    docs: list[_Document] = []
    url = "import"
    if collaterals.get("rootcacrl"):
        der = _crl(collaterals["rootcacrl"], "collaterals.rootcacrl")
        docs += [_Document(EntryKey.root_ca_crl(), a, Fetched(der, b"", url)) for a in (4, 3)]
    pck_chains = certificates.get(PCK_CHAIN) or {}
    _need(isinstance(pck_chains, dict), f"collaterals.certificates.{PCK_CHAIN}", "must be an object by CA")
    crls = collaterals.get("pckcacrl") or {}
    _need(isinstance(crls, dict), "collaterals.pckcacrl", "must be an object")
    for ca, name in ((PckCa.PROCESSOR, "processorCrl"), (PckCa.PLATFORM, "platformCrl")):
        if crls.get(name):
            where = f"collaterals.certificates.{PCK_CHAIN}.{ca.value.upper()}"
            chain = _chain(pck_chains.get(ca.value.upper()), where)
            der = _crl(crls[name], f"collaterals.pckcacrl.{name}")
            docs.append(_Document(EntryKey.pck_crl(ca), 4, Fetched(der, chain, url)))
    tcb_infos = collaterals.get("tcbinfos") or []
    _need(isinstance(tcb_infos, list), "collaterals.tcbinfos", "must be an array")
    for i, item in enumerate(tcb_infos):
        where = f"collaterals.tcbinfos[{i}]"
        _need(isinstance(item, dict), where, "must be an object")
        fmspc = _hex(item.get("fmspc"), f"{where}.fmspc", 12)
        names = ("tcbinfo",) if api == 3 else ("sgx_tcbinfo", "tdx_tcbinfo")
        for name in names:
            for suffix, update in (("", Update.STANDARD), ("_early", Update.EARLY)):
                if item.get(name + suffix) is None:
                    continue
                chain_value = certificates.get(TCB_CHAIN_V3 if api == 3 else TCB_CHAIN) or certificates.get(TCB_CHAIN)
                chain = _chain(chain_value, f"collaterals.certificates.{TCB_CHAIN}")
                tee = Tee.TDX if name.startswith("tdx") else Tee.SGX
                body = _json_body(item[name + suffix], f"{where}.{name}{suffix}")
                docs.append(_Document(EntryKey.tcb_info(tee, fmspc, update), api, Fetched(body, chain, url)))
    for name, (tee, kind) in _IDENTITIES.items():
        for suffix, update in (("", Update.STANDARD), ("_early", Update.EARLY)):
            if not collaterals.get(name + suffix):
                continue
            chain = _chain(certificates.get(IDENTITY_CHAIN), f"collaterals.certificates.{IDENTITY_CHAIN}")
            key = EntryKey.qve_identity(update) if kind == "qve" else EntryKey.qe_identity(tee, update)
            body = _json_body(collaterals[name + suffix], f"collaterals.{name}{suffix}")
            docs.append(_Document(key, 4 if tee is Tee.TDX else api, Fetched(body, chain, url)))
    return docs


def _platform_imports(body: Mapping[str, Any], collaterals: Mapping[str, Any]) -> list[_PlatformImport]:
    platforms = body.get("platforms") or []
    _need(isinstance(platforms, list), "platforms", "must be an array")
    chains = (collaterals.get("certificates") or {}).get(PCK_CHAIN) or {}
    items = collaterals.get("pck_certs") or []
    _need(isinstance(items, list), "collaterals.pck_certs", "must be an array")
    out: list[_PlatformImport] = []
    for i, item in enumerate(items):
        where = f"collaterals.pck_certs[{i}]"
        _need(isinstance(item, dict), where, "must be an object")
        qe_id = _hex(item.get("qe_id"), f"{where}.qe_id")
        pce_id = _hex(item.get("pce_id"), f"{where}.pce_id", 4)
        certs = item.get("certs")
        _need(isinstance(certs, list) and bool(certs), f"{where}.certs", "must be a non-empty array")
        records: list[CertificateRecord] = []
        for j, cert in enumerate(certs):
            w = f"{where}.certs[{j}]"
            _need(isinstance(cert, dict) and isinstance(cert.get("cert"), str), w, "must have tcb, tcbm and cert")
            if cert["cert"] == "Not available":
                continue
            tcbm = _hex(cert.get("tcbm"), f"{w}.tcbm", 36)
            pem = unquote(cert["cert"]).encode()
            records.append(CertificateRecord(tcbm, json.dumps(cert.get("tcb") or {}, separators=(",", ":")), pem))
        _need(bool(records), f"{where}.certs", "has no certificate ('Not available' everywhere)")
        try:
            first = PckCertificate.from_certificate(Certificate.from_pem(records[0].cert))
        except FormatError as exc:
            raise InvalidRequest(f"{where}.certs[0].cert: {exc}") from None
        ca = first.ca_type.upper()
        chain = _chain(chains.get(ca), f"collaterals.certificates.{PCK_CHAIN}.{ca}")
        record = PlatformRecord(
            qe_id, pce_id, first.fmspc.hex().upper(), ca,
            _hex(item.get("enc_ppid", ""), f"{where}.enc_ppid", allow_empty=True).lower(),
            _hex(item.get("platform_manifest") or "", f"{where}.platform_manifest", allow_empty=True).lower(),
            chain,
        )  # fmt: skip
        raws = [
            RawTcb(_hex(p["cpu_svn"], "platforms[].cpu_svn", 32), _hex(p["pce_svn"], "platforms[].pce_svn", 4))
            for p in platforms
            if isinstance(p, dict)
            and str(p.get("qe_id", "")).upper() == qe_id
            and str(p.get("pce_id", "")).upper() == pce_id
            and p.get("cpu_svn")
            and p.get("pce_svn")
        ]
        out.append(_PlatformImport(record, records, raws))
    return out


async def import_collateral(service: PccsService, body: Any, api: int = 4) -> ImportSummary:
    """Import Intel's ``platformcollateral`` JSON into ``service`` (a ``PccsService``). ``InvalidRequest``
    for a malformed file, ``IntegrityError`` (460) when anything does not verify; then nothing is stored."""
    _need(isinstance(body, dict), "body", "must be a JSON object with platforms and collaterals")
    collaterals = body.get("collaterals")
    _need(isinstance(collaterals, dict), "collaterals", "must be an object")
    version = collaterals.get("version", api)
    _need(version in (3, 4), "collaterals.version", "must be 3 or 4")
    _need(version == api, "collaterals.version", f"is {version}, but this is the v{api} API")
    documents = _documents(collaterals, api)
    platforms = _platform_imports(body, collaterals)
    certificates = await asyncio.to_thread(_preverify, service, documents, platforms)
    for doc in documents:  # dependencies first: root CA CRL, PCK CRLs, then the rest (as _documents lists them)
        await service.cache_for(doc.api).put(doc.key, doc.fetched)
    for platform, kept in zip(platforms, certificates, strict=True):
        await service.platforms.replace(platform.record, kept, platform.raw_tcbs)
    await service.changed()
    return ImportSummary(len(documents), len(platforms), sum(len(kept) for kept in certificates))


def _preverify(
    service: PccsService, documents: list[_Document], platforms: list[_PlatformImport]
) -> list[list[CertificateRecord]]:
    """Every document and PCK certificate against the trust root, with the CRLs of the import (else the
    cached ones), before anything is stored: an import is all or nothing. Returns the certificates of each
    platform that are kept (not revoked)."""
    imported = {(d.api, str(d.key)): d.fetched.data for d in documents}

    def crl(key: EntryKey, api: int, needed_for: str) -> bytes:
        # A cached CRL is read without re-verification here: each use below checks its signature.
        data = imported.get((api, str(key)))
        if data is None:
            cached = service.store.get(service.cache_for(api).root_id, key)
            if cached is None:
                raise IntegrityError(f"the {needed_for} cannot be checked: no {key.description} is imported or cached")
            data = cached.data
        return data

    for doc in documents:
        root = (
            None if doc.key.kind is EntryKind.ROOT_CA_CRL else crl(EntryKey.root_ca_crl(), doc.api, doc.key.description)
        )
        try:
            admit(
                doc.key, doc.fetched.data, doc.fetched.issuer_chain, service.trust, root_ca_crl=root, memo=service.memo
            )
        except UntrustedCollateralError as exc:
            raise IntegrityError(f"{exc.reason} ({doc.key.description}); nothing was imported") from None
    kept: list[list[CertificateRecord]] = []
    for platform in platforms:
        record = platform.record
        what = f"PCK certificates of QE-ID {record.qe_id}"
        root, pck_crl = crl(EntryKey.root_ca_crl(), 4, what), crl(EntryKey.pck_crl(pck_ca(record)), 4, what)
        try:
            kept.append(
                service.platforms.admit_certificates(record, platform.certificates, root_ca_crl=root, pck_crl=pck_crl)
            )
        except UpstreamFailed as exc:
            raise IntegrityError(f"{exc.detail}; nothing was imported") from None
    return kept


# ---- export -----------------------------------------------------------------------------------------


def _identity_name(key: EntryKey) -> str:
    base = (
        "qveidentity" if key.kind is EntryKind.QVE_IDENTITY else "tdqeidentity" if key.tee is Tee.TDX else "qeidentity"
    )
    return base + ("_early" if key.update is Update.EARLY else "")


def export_collateral(service: PccsService) -> dict[str, Any]:
    """The cache (API v4 documents, platforms and certificates) as Intel's ``platformcollateral`` JSON."""
    entries: list[Entry] = [e for _, e in service.store.entries(root_id=service.cache.root_id)]
    collaterals: dict[str, Any] = {
        "version": 4, "pck_certs": [], "tcbinfos": [], "pckcacrl": {},
        "certificates": {PCK_CHAIN: {}, TCB_CHAIN: "", IDENTITY_CHAIN: ""}, "rootcacrl": "",
    }  # fmt: skip
    certificates = collaterals["certificates"]
    tcb_infos: dict[str, dict[str, Any]] = {}
    for entry in entries:
        key = entry.key
        if key.kind is EntryKind.ROOT_CA_CRL:
            collaterals["rootcacrl"] = entry.data.hex()
        elif key.kind is EntryKind.PCK_CRL and key.ca is not None:
            collaterals["pckcacrl"][f"{key.ca.value}Crl"] = entry.data.hex()
            certificates[PCK_CHAIN][key.ca.value.upper()] = url_encoded(entry.issuer_chain)
        elif key.kind is EntryKind.TCB_INFO and key.fmspc is not None and key.tee is not None:
            item = tcb_infos.setdefault(key.fmspc, {"fmspc": key.fmspc.upper()})
            name = f"{key.tee.value}_tcbinfo" + ("_early" if key.update is Update.EARLY else "")
            item[name] = json.loads(entry.data)
            certificates[TCB_CHAIN] = url_encoded(entry.issuer_chain)
        elif key.kind in (EntryKind.QE_IDENTITY, EntryKind.QVE_IDENTITY):
            collaterals[_identity_name(key)] = entry.data.decode()
            certificates[IDENTITY_CHAIN] = url_encoded(entry.issuer_chain)
    collaterals["tcbinfos"] = list(tcb_infos.values())
    registry = service.registry
    for platform in registry.platforms():
        certificates[PCK_CHAIN].setdefault(platform.ca, url_encoded(platform.issuer_chain))
        collaterals["pck_certs"].append(
            {
                "qe_id": platform.qe_id,
                "pce_id": platform.pce_id,
                "enc_ppid": platform.enc_ppid,
                "platform_manifest": platform.platform_manifest,
                "certs": [
                    {"tcb": json.loads(c.tcb), "tcbm": c.tcbm, "cert": url_encoded(c.cert)}
                    for c in registry.certificates(platform.qe_id, platform.pce_id)
                ],
            }
        )
    return {"platforms": registry.cached_platform_rows([]), "collaterals": collaterals}
