"""Intel's ``platformcollateral`` JSON of API v3 or v4 (what ``PUT platformcollateral`` and Intel's admin tool
exchange): importing it (everything verified against the trust root first; nothing stored unless all of it
verifies; a document older than the cached one is left out and the cached one kept; all of it stored in one
transaction, so that a crash leaves the whole file or nothing of it) and exporting the cache in the same format
for an air-gapped PCCS.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from pydcap.cache import Admission, Entry, EntryKey, EntryKind, UntrustedCollateralError, admit
from pydcap.cache.upstream import rollback_reason
from pydcap.collateral import TcbInfo
from pydcap.errors import FormatError
from pydcap.intel import protocol
from pydcap.intel.protocol import url_encoded
from pydcap.pccs.errors import IntegrityError, InvalidRequest, UpstreamFailed
from pydcap.pccs.platforms import pck_ca
from pydcap.pccs.registry import CertificateRecord, PlatformRecord, RawTcb
from pydcap.pki import Certificate, PckCertificate, RevocationList
from pydcap.sources.models import Fetched, PckCa, Tee, Update

if TYPE_CHECKING:
    from pydcap.pccs.service import PccsService

# The file's "certificates" object is keyed by Intel's header names (pydcap.intel.protocol).
PCK_CHAIN = protocol.PCK_CERTIFICATE_ISSUER_CHAIN
TCB_CHAIN = protocol.TCB_INFO_ISSUER_CHAIN
TCB_CHAIN_V3 = protocol.SGX_TCB_INFO_ISSUER_CHAIN
IDENTITY_CHAIN = protocol.ENCLAVE_IDENTITY_ISSUER_CHAIN
_IDENTITIES = {
    "qeidentity": (Tee.SGX, "qe"),
    "tdqeidentity": (Tee.TDX, "qe"),
    "qveidentity": (Tee.SGX, "qve"),
}
# The fields of a TCB info (with "_early" for the early update) in each API version's file.
_TCB_FIELDS = {3: ("tcbinfo",), 4: ("sgx_tcbinfo", "tdx_tcbinfo")}
_HEX = re.compile(r"^([0-9a-fA-F]{2})*$")
log = logging.getLogger("pydcap.pccs")


@dataclass(frozen=True)
class ImportSummary:
    """What an import stored, and each document of the file it left out, with why (``not_imported``): a
    newer one is cached (it is kept), or the file has no issuer chain to check it against."""

    documents: int
    platforms: int
    certificates: int
    not_imported: tuple[str, ...] = ()


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


@dataclass(frozen=True)
class _Plan:
    """What an import stores once all of it verified: the entries (with their API) of the documents not older
    than the cached ones, the certificates of each platform that are kept (not revoked), and the documents left
    out, with why."""

    entries: list[tuple[int, Entry]]
    certificates: list[list[CertificateRecord]]
    left_out: list[str]

    def selection_tcb_info(self, fmspc: str) -> TcbInfo | None:
        """The SGX TCB info of ``fmspc`` that PCK selection uses, if the file brings one: early before standard,
        API v4 before v3 (as ``PlatformCertificates`` picks among cached ones)."""
        infos = {
            (api, entry.key.update): entry
            for api, entry in self.entries
            if entry.key.kind is EntryKind.TCB_INFO and entry.key.tee is Tee.SGX and entry.key.fmspc == fmspc.lower()
        }
        for choice in ((4, Update.EARLY), (4, Update.STANDARD), (3, Update.EARLY), (3, Update.STANDARD)):
            if choice in infos:
                return TcbInfo.parse(infos[choice].data)
        return None


def _given(mapping: Mapping[str, Any], name: str, default: Any) -> Any:
    """``mapping[name]``, or ``default`` when it is absent, null or an empty string (as Intel's tool may write it);
    any other value is checked by its reader."""
    value = mapping.get(name)
    return default if value is None or value == "" else value


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
    return _utf8(unquote(str(value)), where)


def _json_body(value: Any, where: str) -> bytes:
    """A signed document as Intel's PCCS stores it: a JSON object is re-serialised compactly (what Intel
    signs); a string is taken as it is."""
    _need(isinstance(value, str | dict), where, "must be a signed JSON document (object or string)")
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return _utf8(text, where)


def _utf8(text: str, where: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError as exc:  # a lone surrogate ("\ud800" in the file's JSON) has no UTF-8 form
        raise InvalidRequest(f"{where}: not UTF-8 text ({exc.reason} at character {exc.start})") from None


def _documents(collaterals: Mapping[str, Any], api: int) -> list[_Document]:
    certificates = _given(collaterals, "certificates", {})
    _need(isinstance(certificates, dict), "collaterals.certificates", "must be an object")
    docs: list[_Document] = []
    url = "import"
    if _given(collaterals, "rootcacrl", None) is not None:
        der = _crl(collaterals["rootcacrl"], "collaterals.rootcacrl")
        docs += [_Document(EntryKey.root_ca_crl(), a, Fetched(der, b"", url)) for a in (4, 3)]
    pck_chains = _given(certificates, PCK_CHAIN, {})
    _need(isinstance(pck_chains, dict), f"collaterals.certificates.{PCK_CHAIN}", "must be an object by CA")
    crls = _given(collaterals, "pckcacrl", {})
    _need(isinstance(crls, dict), "collaterals.pckcacrl", "must be an object")
    for ca, name in ((PckCa.PROCESSOR, "processorCrl"), (PckCa.PLATFORM, "platformCrl")):
        if _given(crls, name, None) is not None:
            # Intel's admin tool writes the issuer chain of a CA only when a platform of that CA is in the file
            # (and none with ``fetch --crl``); without it, the chain cached for that CRL checks it (_preverify).
            where = f"collaterals.certificates.{PCK_CHAIN}.{ca.value.upper()}"
            given = pck_chains.get(ca.value.upper())
            chain = _chain(given, where) if given else b""
            der = _crl(crls[name], f"collaterals.pckcacrl.{name}")
            docs.append(_Document(EntryKey.pck_crl(ca), 4, Fetched(der, chain, url)))
    tcb_infos = _given(collaterals, "tcbinfos", [])
    _need(isinstance(tcb_infos, list), "collaterals.tcbinfos", "must be an array")
    for i, item in enumerate(tcb_infos):
        where = f"collaterals.tcbinfos[{i}]"
        _need(isinstance(item, dict), where, "must be an object")
        fmspc = _hex(item.get("fmspc"), f"{where}.fmspc", 12)
        for name in _TCB_FIELDS[api]:
            for suffix, update in (("", Update.STANDARD), ("_early", Update.EARLY)):
                if item.get(name + suffix) is None:
                    continue
                header = TCB_CHAIN_V3 if api == 3 else TCB_CHAIN
                chain_value = certificates.get(header) or certificates.get(TCB_CHAIN)
                chain = _chain(chain_value, f"collaterals.certificates.{header}")
                tee = Tee.TDX if name.startswith("tdx") else Tee.SGX
                body = _json_body(item[name + suffix], f"{where}.{name}{suffix}")
                docs.append(_Document(EntryKey.tcb_info(tee, fmspc, update), api, Fetched(body, chain, url)))
    for name, (tee, kind) in _IDENTITIES.items():
        for suffix, update in (("", Update.STANDARD), ("_early", Update.EARLY)):
            if _given(collaterals, name + suffix, None) is None:
                continue
            chain = _chain(certificates.get(IDENTITY_CHAIN), f"collaterals.certificates.{IDENTITY_CHAIN}")
            key = EntryKey.qve_identity(update) if kind == "qve" else EntryKey.qe_identity(tee, update)
            body = _json_body(collaterals[name + suffix], f"collaterals.{name}{suffix}")
            docs.append(_Document(key, 4 if tee is Tee.TDX else api, Fetched(body, chain, url)))
    return docs


def _platform_imports(body: Mapping[str, Any], collaterals: Mapping[str, Any]) -> list[_PlatformImport]:
    platforms = _given(body, "platforms", [])
    _need(isinstance(platforms, list) and all(isinstance(p, dict) for p in platforms), "platforms",
          "must be an array of objects")  # fmt: skip
    certificates = _given(collaterals, "certificates", {})
    _need(isinstance(certificates, dict), "collaterals.certificates", "must be an object")
    chains = _given(certificates, PCK_CHAIN, {})
    _need(isinstance(chains, dict), f"collaterals.certificates.{PCK_CHAIN}", "must be an object by CA")
    items = _given(collaterals, "pck_certs", [])
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
            pem = _utf8(unquote(cert["cert"]), f"{w}.cert")
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


def _file_version(collaterals: Mapping[str, Any]) -> int | None:
    """The API version a file is of: its ``version``, else what the fields of its TCB infos say (Intel's v3
    schema has no ``version``): ``tcbinfo`` is v3, ``sgx_tcbinfo`` and ``tdx_tcbinfo`` v4. None: it does not
    say (no version, no TCB info)."""
    version = collaterals.get("version")
    _need(version is None or version in (3, 4), "collaterals.version", "must be 3 or 4")
    items = collaterals.get("tcbinfos")
    fields = (
        {f for item in items if isinstance(item, dict) for f, v in item.items() if v is not None}
        if isinstance(items, list)
        else set()
    )
    shown = {v for v, names in _TCB_FIELDS.items() if any(n + e in fields for n in names for e in ("", "_early"))}
    _need(len(shown) < 2, "collaterals.tcbinfos", "mixes the fields of API v3 (tcbinfo) and v4 (sgx_tcbinfo)")
    if version is not None and shown and version not in shown:
        names = " and ".join(_TCB_FIELDS[shown.pop()])
        raise InvalidRequest(f"collaterals.version: is {version}, but its tcbinfos have {names} (another API)")
    return version if version is not None else next(iter(shown), None)


async def import_collateral(service: PccsService, body: Any, api: int | None = None) -> ImportSummary:
    """Import Intel's ``platformcollateral`` JSON into ``service`` (a ``PccsService``) as API ``api``'s (None:
    the version the file is of). ``InvalidRequest`` for a malformed file or one of the other API version;
    ``IntegrityError`` (460) when anything does not verify, and then nothing is stored. A document older than
    the one cached (lower TCB evaluation data number or CRL number) is not imported and the cached one is
    kept, as a refresh keeps it: the summary lists it, and the rest of the file is imported."""
    _need(isinstance(body, dict), "body", "must be a JSON object with platforms and collaterals")
    collaterals = body.get("collaterals")
    _need(isinstance(collaterals, dict), "collaterals", "must be an object")
    version = _file_version(collaterals)
    if api is None:
        api = version if version is not None else 4
    elif version is not None and version != api:
        raise InvalidRequest(
            f"this is a platformcollateral file of API v{version} and this is the v{api} API: "
            f"PUT it to /sgx/certification/v{version}/platformcollateral"
        )
    documents = _documents(collaterals, api)
    platforms = _platform_imports(body, collaterals)
    plan = await asyncio.to_thread(_preverify, service, documents, platforms)
    selections = [
        await service.platforms.selections(
            platform.record, kept, platform.raw_tcbs, plan.selection_tcb_info(platform.record.fmspc)
        )
        for platform, kept in zip(platforms, plan.certificates, strict=True)
    ]
    stored, left_out = await asyncio.to_thread(_store, service, plan, platforms, selections)
    for cache in (service.cache, service.cache_v3):  # what memory holds may be older than what is stored now
        cache.forget()
    for note in left_out:
        log.warning("import: not imported %s", note)
    return ImportSummary(stored, len(platforms), sum(len(kept) for kept in plan.certificates), tuple(left_out))


def _store(
    service: PccsService,
    plan: _Plan,
    platforms: list[_PlatformImport],
    selections: list[list[tuple[RawTcb, str]]],
) -> tuple[int, list[str]]:
    """Everything the plan keeps, in one transaction: a process killed at any moment leaves all of it stored
    or none of it. Returns how many documents were stored and what was left out."""
    store, left_out, stored = service.store, list(plan.left_out), 0
    with store.transaction() as conn:
        for api, entry in plan.entries:
            root_id = service.cache_for(api).root_id
            held = store.get(root_id, entry.key, conn=conn)
            reason = rollback_reason(held.meta, entry.meta) if held is not None else None
            if reason is not None:  # a refresh stored a newer one since _preverify looked
                left_out.append(_kept(entry.key, reason))
                continue
            store.put(root_id, entry, count="imported", conn=conn)
            stored += 1
        for platform, kept, chosen in zip(platforms, plan.certificates, selections, strict=True):
            service.registry.replace_platform(platform.record, kept, chosen, conn=conn)
        service.count_change(conn)
    return stored, left_out


def _kept(key: EntryKey, reason: str) -> str:
    return f"the {key.description}: {reason}, so the cached one is kept"


def _preverify(service: PccsService, documents: list[_Document], platforms: list[_PlatformImport]) -> _Plan:
    """Every document and PCK certificate against the trust root, before anything is stored: an import is all
    or nothing. A document older than the verified one cached is left out (the cached one is kept), so what
    is checked against CRLs is checked against those in effect once the import is stored: the newer of the
    file's and the cache's."""
    in_effect: dict[tuple[int, str], bytes] = {}
    to_store: list[tuple[int, Entry]] = []
    left_out: list[str] = []
    now = int(service.clock())

    def cached(key: EntryKey, api: int) -> Entry | None:
        return service.store.get(service.cache_for(api).root_id, key)

    def crl(key: EntryKey, api: int, needed_for: str) -> bytes:
        # A cached CRL is read without re-verification here: each use below checks its signature.
        data = in_effect.get((api, str(key)))
        if data is None:
            entry = cached(key, api)
            if entry is None:
                raise IntegrityError(f"the {needed_for} cannot be checked: no {key.description} is imported or cached")
            data = entry.data
        return data

    def verified(key: EntryKey, fetched: Fetched, root: bytes | None) -> Admission:
        return admit(key, fetched.data, fetched.issuer_chain, service.trust, root_ca_crl=root, memo=service.memo)

    def older(key: EntryKey, facts: dict[str, str], held: Entry | None, root: bytes | None) -> str | None:
        """Why the file's document (``facts``) is older than the cached one, or None: it is not, or nothing
        that verifies is cached (the import replaces what does not)."""
        if held is None:
            return None
        try:
            return rollback_reason(verified(key, Fetched(held.data, held.issuer_chain, ""), root).meta, facts)
        except UntrustedCollateralError:
            return None

    for doc in documents:
        key, fetched = doc.key, doc.fetched
        root = None if key.kind is EntryKind.ROOT_CA_CRL else crl(EntryKey.root_ca_crl(), doc.api, key.description)
        held = cached(key, doc.api)
        if key.kind is EntryKind.PCK_CRL and not fetched.issuer_chain:
            if held is None:
                left_out.append(f"the {key.description}: the file has no issuer chain of its CA and none is cached")
                continue
            fetched = replace(fetched, issuer_chain=held.issuer_chain)
        try:
            admission = verified(key, fetched, root)
        except UntrustedCollateralError as exc:
            raise IntegrityError(f"{exc.reason} ({key.description}); nothing was imported") from None
        reason = older(key, admission.meta, held, root)
        if reason is not None and held is not None:
            left_out.append(_kept(key, reason))
            in_effect[(doc.api, str(key))] = held.data
        else:
            to_store.append((doc.api, Entry.admitted(key, fetched, admission, now)))
            in_effect[(doc.api, str(key))] = fetched.data
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
    return _Plan(to_store, kept, left_out)


# ---- export -----------------------------------------------------------------------------------------


def _identity_name(key: EntryKey) -> str:
    base = (
        "qveidentity" if key.kind is EntryKind.QVE_IDENTITY else "tdqeidentity" if key.tee is Tee.TDX else "qeidentity"
    )
    return base + ("_early" if key.update is Update.EARLY else "")


def export_collateral(service: PccsService, api: int = 4) -> dict[str, Any]:
    """The cache as Intel's ``platformcollateral`` JSON of API ``api`` (3 or 4), as Intel's admin tool writes it
    from that PCS API: the TCB infos and identities that API serves, the CRLs, and the platforms and their
    certificates."""
    if api not in (3, 4):
        raise ValueError(f"platformcollateral files are of API 3 or 4, not {api}")
    tcb_chain = TCB_CHAIN_V3 if api == 3 else TCB_CHAIN
    signed = [e for _, e in service.store.entries(root_id=service.cache_for(api).root_id)]
    # The v3 API serves the CRLs of API v4 (PccsApp); any of its own fill in. Later entries win.
    namespaces = dict.fromkeys([service.cache_for(api).root_id, service.cache.root_id])
    crls = [e for root_id in namespaces for _, e in service.store.entries(root_id=root_id)]
    collaterals: dict[str, Any] = {
        "version": api, "pck_certs": [], "tcbinfos": [], "pckcacrl": {},
        "certificates": {PCK_CHAIN: {}, tcb_chain: "", IDENTITY_CHAIN: ""}, "rootcacrl": "",
    }  # fmt: skip
    certificates = collaterals["certificates"]
    tcb_infos: dict[str, dict[str, Any]] = {}
    for entry in crls:
        key = entry.key
        if key.kind is EntryKind.ROOT_CA_CRL:
            collaterals["rootcacrl"] = entry.data.hex()
        elif key.kind is EntryKind.PCK_CRL and key.ca is not None:
            collaterals["pckcacrl"][f"{key.ca.value}Crl"] = entry.data.hex()
            certificates[PCK_CHAIN][key.ca.value.upper()] = url_encoded(entry.issuer_chain)
    for entry in signed:
        key = entry.key
        if key.kind is EntryKind.TCB_INFO and key.fmspc is not None and key.tee is not None:
            item = tcb_infos.setdefault(key.fmspc, {"fmspc": key.fmspc.upper()})
            name = "tcbinfo" if api == 3 else f"{key.tee.value}_tcbinfo"
            item[name + ("_early" if key.update is Update.EARLY else "")] = json.loads(entry.data)
            certificates[tcb_chain] = url_encoded(entry.issuer_chain)
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


def export_omissions(service: PccsService, api: int = 4) -> dict[str, int]:
    """How many stored documents ``export_collateral(service, api)`` leaves out, by reason."""
    own, exported = service.cache.root_id, service.cache_for(api).root_id
    other = 3 if api == 4 else 4
    left_out: Counter[str] = Counter()
    for root_id, entry in service.store.entries():
        crl = entry.key.kind in (EntryKind.ROOT_CA_CRL, EntryKind.PCK_CRL)
        if root_id.split(".")[0] != own.split(".")[0]:
            left_out["under another trust root than the one this PCCS trusts (--root-ca, RootCaFile)"] += 1
        elif root_id != exported and not (root_id == own and crl):
            left_out[f"of PCCS API v{other} (export those with --api {other})"] += 1
        elif entry.key.kind is EntryKind.PCK_CERTIFICATE:
            left_out["PCK certificates a client cached (a PCCS exports the platforms registered with it)"] += 1
    return dict(left_out)
