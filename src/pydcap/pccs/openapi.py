"""The OpenAPI 3.0 description of the PCCS API, served at ``/openapi.json`` and held to the server by schemathesis
in the tests (every check): Intel's endpoints under ``/sgx/certification/v3|v4`` and ``/tdx/certification/v4``,
plus ``/metrics`` and ``/healthz``. What a schema cannot say (signatures, which platforms exist) is left to the
documented answers: 404, 460, 461, 462.
"""

from __future__ import annotations

from typing import Any

from pydcap.intel import protocol

_HEX_PATTERN = "^([0-9a-fA-F]{2})*$"
_FMSPCS = "([0-9a-fA-F]{12}(,[0-9a-fA-F]{12})*)?"
_BRACKETED_FMSPCS = f"\\[{_FMSPCS}\\]"  # [00906ED50000,00606A000000], or [] for all
_SOURCE = f"^(|reg|reg_na|{_BRACKETED_FMSPCS})$"  # GET platforms: a queue (default reg), or cached platforms
_REFRESH_FMSPCS = f"^({_BRACKETED_FMSPCS}|{_FMSPCS})$"


def _hex(length: int | None = None, max_length: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "pattern": _HEX_PATTERN}
    if length is not None:
        schema.update(minLength=length, maxLength=length)
    if max_length is not None:
        schema.update(minLength=2, maxLength=max_length)
    return schema


def _any_case(*words: str, empty: bool = False) -> dict[str, Any]:
    """One of ``words`` in any case (the server lowers what it reads); empty too when the server takes that as
    the default."""
    spelled = "|".join("".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word) for word in words)
    return {"type": "string", "pattern": f"^({spelled}){'?' if empty else ''}$"}


def _query(name: str, schema: dict[str, Any], required: bool = False, text: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": text}


def _answer(description: str, content_type: str = "text/plain", schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {content_type: {"schema": schema or {"type": "string"}}}}


UPDATE = _query("update", _any_case("standard", "early", empty=True), text="TCB evaluation (default standard)")
ENCODING = _query("encoding", {"type": "string"}, text="der: DER; anything else: hex text")
_ERRORS: dict[str, Any] = {
    "400": _answer("Invalid request parameters"),
    "404": _answer("Nothing cached (and, in LAZY mode, nothing upstream)"),
    "502": _answer("The upstream PCS failed or served what does not verify"),
    "503": _answer("The upstream budget is spent, Intel rate limits, the store fails, or not in this mode"),
    # The server's own limits (pydcap.serving), before the endpoint sees the request.
    "408": _answer("The request did not arrive within HeadersTimeoutSeconds / RequestTimeoutSeconds"),
    "431": _answer("The request head is larger than MaxHeaderSize"),
}
_UNAUTHORIZED = {"401": _answer("The token is missing or wrong")}
_TOO_LARGE = {"413": _answer("The body is larger than MaxRequestBodySize")}
_CHAIN = {"schema": {"type": "string"}, "description": "URL-encoded PEM issuer chain"}
_ADMIN: list[dict[str, list[str]]] = [{"adminToken": []}]
_USER: list[dict[str, list[str]]] = [{"userToken": []}]


def _get(summary: str, params: list[dict[str, Any]], ok: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"get": {"summary": summary, "parameters": params, "responses": {"200": ok, **_ERRORS, **more}}}


def _document(header: str) -> dict[str, Any]:
    """A signed JSON document (TCB info, enclave identity), exactly as signed, with its issuer chain."""
    return {**_answer("the document", "application/json", {"type": "object"}), "headers": {header: _CHAIN}}


def _crl(header: str | None) -> dict[str, Any]:
    """A CRL: DER with ``encoding=der`` (``application/pkix-crl``), else hex text, as Intel's PCCS sends each."""
    answer: dict[str, Any] = {
        "description": "DER (encoding=der) or hex",
        "content": {
            "application/pkix-crl": {"schema": {"type": "string"}},
            "application/x-pem-file": {"schema": {"type": "string"}},
        },
    }
    if header is not None:
        answer["headers"] = {header: _CHAIN}
    return answer


def _registration() -> dict[str, Any]:
    """``POST platforms``: a platform by its PCK ID (CPUSVN, PCESVN, encrypted PPID), or by its platform manifest."""
    return {
        "type": "object",
        "required": ["qe_id", "pce_id"],
        "properties": {
            "qe_id": _hex(max_length=260),
            "pce_id": _hex(4),
            "cpu_svn": _hex(32),
            "pce_svn": _hex(4),
            "enc_ppid": _hex(768),
            "platform_manifest": {"type": "string", "nullable": True, "pattern": _HEX_PATTERN},
        },
        "anyOf": [
            {"required": ["cpu_svn", "pce_svn", "enc_ppid"]},
            {
                "required": ["platform_manifest"],
                "properties": {"platform_manifest": {"type": "string", "minLength": 2}},
            },
        ],
    }


def _collateral_file() -> dict[str, Any]:
    """Intel's ``platformcollateral`` JSON; the documents themselves must verify (else 460)."""
    # Intel's tool writes null (or "") for what a file does not hold.
    text = {"type": "string", "nullable": True}
    array = {"type": "array", "nullable": True, "items": {"type": "object"}}
    members = {"type": "object", "nullable": True}
    return {
        "type": "object",
        "required": ["collaterals"],
        "properties": {
            "platforms": array,
            "collaterals": {
                "type": "object",
                "properties": {
                    "version": {"type": "integer", "nullable": True, "enum": [3, 4, None]},
                    "pck_certs": array,
                    "tcbinfos": array,
                    "pckcacrl": members,
                    "certificates": members,
                    "rootcacrl": text,
                },
            },
        },
    }


def _sgx_paths(api: str) -> dict[str, Any]:
    base = f"/sgx/certification/{api}"
    tcb_header = protocol.TCB_INFO_ISSUER_CHAIN if api == "v4" else protocol.SGX_TCB_INFO_ISSUER_CHAIN
    identity_header = protocol.ENCLAVE_IDENTITY_ISSUER_CHAIN
    return {
        f"{base}/pckcert": _get(
            "The PCK certificate selected for a platform's raw TCB",
            [
                _query("qeid", _hex(max_length=260), True),
                _query("cpusvn", _hex(32), True),
                _query("pcesvn", _hex(4), True, "little-endian"),
                _query("pceid", _hex(4), True),
                _query("encrypted_ppid", _hex(768), text="needed to fetch a platform not cached yet (LAZY)"),
            ],
            {
                "description": "PEM certificate",
                "headers": {
                    protocol.TCBM: {"schema": {"type": "string"}},
                    protocol.FMSPC: {"schema": {"type": "string"}},
                    protocol.PCK_CERTIFICATE_CA_TYPE: {"schema": {"type": "string"}},
                    protocol.PCK_CERTIFICATE_ISSUER_CHAIN: _CHAIN,
                },
                "content": {"application/x-pem-file": {"schema": {"type": "string"}}},
            },
            **{
                "461": _answer("The platform is not one this PCCS knows (REQ, OFFLINE)"),
                "462": _answer("No certificate for this TCB"),
            },
        ),
        f"{base}/pckcrl": _get(
            "The CRL of a PCK CA: hex text, or DER with encoding=der",
            [
                _query("ca", _any_case("processor", "platform"), True),
                ENCODING,
            ],
            _crl(protocol.PCK_CRL_ISSUER_CHAIN),
        ),
        f"{base}/tcb": _get(
            "SGX TCB info of an FMSPC, exactly as signed",
            [_query("fmspc", _hex(12), True), UPDATE],
            _document(tcb_header),
        ),
        f"{base}/qe/identity": _get("QE identity", [UPDATE], _document(identity_header)),
        f"{base}/qve/identity": _get("QvE identity", [UPDATE], _document(identity_header)),
        f"{base}/rootcacrl": _get(
            "The root CA CRL: hex text, or DER with encoding=der",
            [ENCODING],
            _crl(None),
        ),
        f"{base}/crl": _get(
            "A CRL of Intel's SGX PKI by its distribution point URL (404 for any other)",
            [_query("uri", {"type": "string", "minLength": 1, "maxLength": 2048}, True)],
            _crl(None),
        ),
        f"{base}/platforms": {
            "post": {
                "summary": "Register a platform (user token)",
                "security": _USER,
                "parameters": [_query("update", _any_case("standard", "early", "all", empty=True))],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _registration()}}},
                "responses": {
                    "200": _answer("registered"),
                    **_UNAUTHORIZED,
                    **_TOO_LARGE,
                    **_ERRORS,
                    "462": _answer("Intel has no certificate for this platform yet"),
                },
            },
            "get": {
                "summary": "Registered (reg, reg_na) or cached ([FMSPC,...]) platforms (admin token)",
                "security": _ADMIN,
                "parameters": [
                    _query(
                        "source",
                        {"type": "string", "maxLength": 1024, "pattern": _SOURCE},
                    )
                ],
                "responses": {
                    "200": {
                        **_answer("platforms", "application/json", {"type": "array", "items": {"type": "object"}}),
                        "headers": {"platform-count": {"schema": {"type": "integer"}}},
                    },
                    **_UNAUTHORIZED,
                    **_ERRORS,
                },
            },
        },
        f"{base}/platformcollateral": {
            "put": {
                "summary": "Import Intel's platform collateral JSON (admin token); all of it, or nothing",
                "security": _ADMIN,
                "requestBody": {"required": True, "content": {"application/json": {"schema": _collateral_file()}}},
                "responses": {
                    "200": {
                        **_answer(
                            "imported; documents left out (a newer one is cached, or no issuer chain to check it) "
                            "are named in a Warning header (the first ten; the log names all)"
                        ),
                        "headers": {"Warning": {"schema": {"type": "string"}}},
                    },
                    **_UNAUTHORIZED,
                    **_TOO_LARGE,
                    "460": _answer("Does not verify against the trust root: nothing was imported"),
                    **_ERRORS,
                },
            }
        },
        f"{base}/refresh": {
            method: {
                "summary": "Refresh the cache now (admin token)",
                "security": _ADMIN,
                "parameters": [
                    _query(
                        "type",
                        {"type": "string", "enum": ["certs", ""]},
                        text="certs: PCK certificates only; absent or empty: all",
                    ),
                    _query("fmspc", {"type": "string", "maxLength": 1024, "pattern": _REFRESH_FMSPCS}),
                ],
                "responses": {
                    "200": _answer("refreshed"),
                    "202": _answer("still refreshing after 20 s: it finishes in the background"),
                    **_UNAUTHORIZED,
                    **_ERRORS,
                },
            }
            for method in ("get", "post")
        },
    }


def openapi_document() -> dict[str, Any]:
    paths: dict[str, Any] = {**_sgx_paths("v4"), **_sgx_paths("v3")}
    paths["/tdx/certification/v4/tcb"] = _get(
        "TDX TCB info of an FMSPC", [_query("fmspc", _hex(12), True), UPDATE], _document(protocol.TCB_INFO_ISSUER_CHAIN)
    )
    paths["/tdx/certification/v4/qe/identity"] = _get(
        "TD QE identity", [UPDATE], _document(protocol.ENCLAVE_IDENTITY_ISSUER_CHAIN)
    )
    paths["/metrics"] = {
        "get": {"summary": "Prometheus metrics", "responses": {"200": _answer("text exposition format")}}
    }
    paths["/healthz"] = {
        "get": {
            "summary": "Liveness",
            "responses": {"200": _answer("ok and the mode", "application/json", {"type": "object"})},
        }
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "pydcap PCCS",
            "version": "1.0",
            "description": "Intel-compatible PCK certificate caching service",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "userToken": {"type": "apiKey", "in": "header", "name": "user-token"},
                "adminToken": {"type": "apiKey", "in": "header", "name": "admin-token"},
            }
        },
    }
