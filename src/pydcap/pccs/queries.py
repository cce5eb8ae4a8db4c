"""The parameters of each PCCS endpoint, checked as Intel's PCCS checks them (lengths, allowed values, first
value of a repeated parameter) and a little stricter where a lax check would only fail later (hex digits).
Each reader returns a typed request or raises ``InvalidRequest`` naming the parameter and what it must be.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from pydcap.cache import EntryKey
from pydcap.pccs.errors import InvalidRequest, NotCached
from pydcap.pccs.registry import Registration
from pydcap.sources.models import PckCa, Update

_HEX = re.compile(r"^[0-9a-fA-F]*$")
# Where a CRL of Intel's PKI is published (Intel's PCCS accepts these, and Azure's mirrors of them).
_ROOT_CRL_URI = re.compile(
    r"^https://([a-zA-Z0-9-]*certificates\.trustedservices\.intel\.com|certprx\.adsdcsp\.com)/IntelSGXRootCA\.\S*$"
)
_PCK_CRL_URI = re.compile(
    r"^https://([a-zA-Z0-9-]*\.?api\.trustedservices\.intel\.com|[a-zA-Z0-9-]+\.az\.sgx(prod|np)\.adsdcsp\.com)"
    r"/sgx/certification/v([1-9][0-9]*)/pckcrl\?(\S*)$"
)
MAX_QUERY = 8192


def parse_query(raw: bytes) -> dict[str, str]:
    """Query parameters; a repeated one keeps its first value (Intel's ``filterDuplicatedParams``)."""
    if len(raw) > MAX_QUERY:
        raise InvalidRequest(f"the query string is longer than {MAX_QUERY} bytes")
    out: dict[str, str] = {}
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=64)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest(f"the query string cannot be read: {exc}") from None
    for key, value in pairs:
        out.setdefault(key, value)
    return out


def hex_value(params: Mapping[str, str], name: str, *, size: int | None = None, max_size: int | None = None) -> str:
    """The parameter ``name`` as upper-case hex of exactly ``size`` (or at most ``max_size``) characters."""
    value = params.get(name)
    if not value:
        raise InvalidRequest(f"{name} is required")
    if not _HEX.match(value) or len(value) % 2:
        raise InvalidRequest(f"{name} must be hexadecimal digits")
    if size is not None and len(value) != size:
        raise InvalidRequest(f"{name} must be {size} hexadecimal digits, not {len(value)}")
    if max_size is not None and len(value) > max_size:
        raise InvalidRequest(f"{name} must be at most {max_size} hexadecimal digits")
    return value.upper()


def update_value(params: Mapping[str, str], *, allow_all: bool = False) -> str:
    """``update``: standard (default) or early, any case; ``all`` where registration allows it."""
    value = params.get("update")
    if not value:
        return "standard"
    lowered = value.lower()
    allowed = ("standard", "early", "all") if allow_all else ("standard", "early")
    if lowered not in allowed:
        raise InvalidRequest(f"update must be {' or '.join(allowed)}")
    return lowered


@dataclass(frozen=True)
class PckCertQuery:
    qe_id: str
    cpu_svn: str
    pce_svn: str
    pce_id: str
    enc_ppid: str | None

    @classmethod
    def read(cls, params: Mapping[str, str]) -> PckCertQuery:
        qe_id = hex_value(params, "qeid", max_size=260)
        cpu_svn = hex_value(params, "cpusvn", size=32)
        pce_svn = hex_value(params, "pcesvn", size=4)
        pce_id = hex_value(params, "pceid", size=4)
        enc_ppid = hex_value(params, "encrypted_ppid", size=768) if params.get("encrypted_ppid") else None
        return cls(qe_id, cpu_svn, pce_svn, pce_id, enc_ppid)


def pck_crl_query(params: Mapping[str, str]) -> tuple[EntryKey, bool]:
    """(the PCK CRL's key, whether DER was asked for: otherwise Intel's PCCS answers hex text)."""
    ca = (params.get("ca") or "").lower()
    if ca not in ("processor", "platform"):
        raise InvalidRequest("ca must be processor or platform")
    return EntryKey.pck_crl(PckCa(ca)), (params.get("encoding") or "").lower() == "der"


def tcb_query(params: Mapping[str, str], tee: str) -> EntryKey:
    fmspc = hex_value(params, "fmspc", size=12)
    return EntryKey.tcb_info(tee, fmspc, Update(update_value(params)))


def crl_uri_key(params: Mapping[str, str]) -> EntryKey:
    """``crl?uri=``: the CRL behind one of Intel's distribution points, served from the verified cache (the
    URI only names which CRL; nothing is fetched from an address a client chose)."""
    uri = params.get("uri") or ""
    if not uri or len(uri) > 2048:
        raise InvalidRequest("uri is required (at most 2048 characters)")
    if _ROOT_CRL_URI.match(uri):
        return EntryKey.root_ca_crl()
    match = _PCK_CRL_URI.match(uri)
    if match:
        query = parse_query(match.group(4).encode())
        ca = (query.get("ca") or "").lower()
        if ca in ("processor", "platform"):
            return EntryKey.pck_crl(PckCa(ca))
    raise NotCached(
        "No cache data for this CRL: this PCCS serves the CRLs of Intel's SGX PKI only (the root CA CRL and the PCK "
        "CRLs of Intel PCS, by their distribution points)"
    )


def fmspc_list(text: str) -> list[str]:
    """``[FMSPC1,FMSPC2]`` or ``FMSPC1,FMSPC2`` (``[]`` or empty: all), each 12 hex digits."""
    inner = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    values = [v.upper() for v in inner.split(",")] if inner else []
    for n, value in enumerate(values, 1):
        if len(value) != 12 or not _HEX.match(value):
            raise InvalidRequest(f"FMSPC {n} of the list is not 12 hexadecimal digits")
    return values


def registration_from_json(body: object) -> Registration:
    """``POST platforms``: Intel's registration object (``qe_id``, ``pce_id``, ``cpu_svn``, ``pce_svn``,
    ``enc_ppid``, ``platform_manifest``), normalised as Intel's PCCS does (a manifest makes the rest moot)."""
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object with qe_id, pce_id, cpu_svn, pce_svn, enc_ppid")
    fields: dict[str, str] = {}
    for name in ("qe_id", "pce_id", "cpu_svn", "pce_svn", "enc_ppid", "platform_manifest"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidRequest(f"{name} must be a string of hexadecimal digits")
        fields[name] = value
    qe_id = hex_value(fields, "qe_id", max_size=260)
    pce_id = hex_value(fields, "pce_id", size=4)
    manifest = fields.get("platform_manifest") or ""
    if manifest:
        return Registration(qe_id, pce_id, platform_manifest=hex_value(fields, "platform_manifest").lower())
    return Registration(
        qe_id,
        pce_id,
        hex_value(fields, "cpu_svn", size=32),
        hex_value(fields, "pce_svn", size=4),
        hex_value(fields, "enc_ppid", size=768).lower(),
    )
