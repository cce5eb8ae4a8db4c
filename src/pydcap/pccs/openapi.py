"""The OpenAPI 3.0 description of the PCCS API, served at ``/openapi.json`` (and run by schemathesis in the
tests): Intel's endpoints under ``/sgx/certification/v3|v4`` and ``/tdx/certification/v4``, plus ``/metrics``.
"""

from __future__ import annotations

from typing import Any


def _hex(length: int | None = None, max_length: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "pattern": "^([0-9a-fA-F]{2})*$"}
    if length is not None:
        schema.update(minLength=length, maxLength=length)
    if max_length is not None:
        schema.update(minLength=2, maxLength=max_length)
    return schema


def _query(name: str, schema: dict[str, Any], required: bool = False, text: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": text}


UPDATE = _query("update", {"type": "string", "enum": ["standard", "early"]}, text="TCB evaluation (default standard)")
_TEXT = {"text/plain": {"schema": {"type": "string"}}}
_ERRORS: dict[str, Any] = {
    "400": {"description": "Invalid request parameters", "content": _TEXT},
    "404": {"description": "Nothing cached (and, in LAZY mode, nothing upstream)", "content": _TEXT},
    "502": {"description": "The upstream PCS failed or served what does not verify", "content": _TEXT},
    "503": {"description": "Rate limited upstream, or not available in this mode", "content": _TEXT},
}
_CHAIN = {"schema": {"type": "string"}, "description": "URL-encoded PEM issuer chain"}
_ADMIN: list[dict[str, list[str]]] = [{"adminToken": []}]
_USER: list[dict[str, list[str]]] = [{"userToken": []}]


def _get(summary: str, params: list[dict[str, Any]], ok: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"summary": summary, "parameters": params, "responses": {"200": ok, **_ERRORS}}}


def _document(content_type: str, header: str) -> dict[str, Any]:
    return {
        "description": "the document",
        "headers": {header: _CHAIN},
        "content": {content_type: {"schema": {"type": "string"}}},
    }


def _sgx_paths(api: str) -> dict[str, Any]:
    base = f"/sgx/certification/{api}"
    tcb_header = "TCB-Info-Issuer-Chain" if api == "v4" else "SGX-TCB-Info-Issuer-Chain"
    registration = {
        "type": "object",
        "required": ["qe_id", "pce_id"],
        "properties": {
            "qe_id": _hex(max_length=260),
            "pce_id": _hex(4),
            "cpu_svn": _hex(32),
            "pce_svn": _hex(4),
            "enc_ppid": _hex(768),
            "platform_manifest": {"type": "string", "nullable": True},
        },
    }
    return {
        f"{base}/pckcert": _get(
            "The PCK certificate selected for a platform's raw TCB",
            [
                _query("qeid", _hex(max_length=260), True),
                _query("cpusvn", _hex(32), True),
                _query("pcesvn", _hex(4), True, "little-endian"),
                _query("pceid", _hex(4), True),
                _query("encrypted_ppid", _hex(768)),
            ],
            {
                "description": "PEM certificate",
                "headers": {
                    "SGX-TCBm": {"schema": {"type": "string"}},
                    "SGX-FMSPC": {"schema": {"type": "string"}},
                    "SGX-PCK-Certificate-CA-Type": {"schema": {"type": "string"}},
                    "SGX-PCK-Certificate-Issuer-Chain": _CHAIN,
                },
                "content": {"application/x-pem-file": {"schema": {"type": "string"}}},
            },
        ),
        f"{base}/pckcrl": _get(
            "The CRL of a PCK CA: hex text, or DER with encoding=der",
            [
                _query("ca", {"type": "string", "enum": ["processor", "platform"]}, True),
                _query("encoding", {"type": "string", "enum": ["der"]}),
            ],
            _document("application/pkix-crl", "SGX-PCK-CRL-Issuer-Chain"),
        ),
        f"{base}/tcb": _get(
            "SGX TCB info of an FMSPC, exactly as signed",
            [_query("fmspc", _hex(12), True), UPDATE],
            _document("application/json", tcb_header),
        ),
        f"{base}/qe/identity": _get(
            "QE identity", [UPDATE], _document("application/json", "SGX-Enclave-Identity-Issuer-Chain")
        ),
        f"{base}/qve/identity": _get(
            "QvE identity", [UPDATE], _document("application/json", "SGX-Enclave-Identity-Issuer-Chain")
        ),
        f"{base}/rootcacrl": _get(
            "The root CA CRL, hex-encoded DER",
            [],
            {"description": "hex text", "content": {"application/pkix-crl": {"schema": {"type": "string"}}}},
        ),
        f"{base}/crl": _get(
            "A CRL by its distribution point URL",
            [_query("uri", {"type": "string", "maxLength": 2048}, True)],
            {"description": "DER", "content": {"application/pkix-crl": {"schema": {"type": "string"}}}},
        ),
        f"{base}/platforms": {
            "post": {
                "summary": "Register a platform (user token)",
                "security": _USER,
                "parameters": [_query("update", {"type": "string", "enum": ["standard", "early", "all"]})],
                "requestBody": {"required": True, "content": {"application/json": {"schema": registration}}},
                "responses": {
                    "200": {"description": "registered", "content": _TEXT},
                    "401": {"description": "no token"},
                    **_ERRORS,
                },
            },
            "get": {
                "summary": "Registered (reg, reg_na) or cached ([FMSPC,...]) platforms (admin token)",
                "security": _ADMIN,
                "parameters": [_query("source", {"type": "string", "maxLength": 1024})],
                "responses": {
                    "200": {"description": "platforms", "headers": {"platform-count": {"schema": {"type": "integer"}}}},
                    "401": {"description": "no token"},
                    **_ERRORS,
                },
            },
        },
        f"{base}/platformcollateral": {
            "put": {
                "summary": "Import Intel's platform collateral JSON (admin token)",
                "security": _ADMIN,
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {
                    "200": {
                        "description": "imported; documents left out (a newer one is cached, or no issuer chain to "
                        "check it) are named in a Warning header (the first ten; the log names all)",
                        "headers": {"Warning": {"schema": {"type": "string"}}},
                    },
                    "401": {"description": "no token"},
                    "460": {"description": "does not verify against the trust root"},
                    **_ERRORS,
                },
            }
        },
        f"{base}/refresh": {
            method: {
                "summary": "Refresh the cache now (admin token)",
                "security": _ADMIN,
                "parameters": [
                    _query("type", {"type": "string", "enum": ["certs"]}),
                    _query("fmspc", {"type": "string", "maxLength": 1024}),
                ],
                "responses": {"200": {"description": "refreshed"}, "401": {"description": "no token"}, **_ERRORS},
            }
            for method in ("get", "post")
        },
    }


def openapi_document() -> dict[str, Any]:
    paths: dict[str, Any] = {**_sgx_paths("v4"), **_sgx_paths("v3")}
    paths["/tdx/certification/v4/tcb"] = _get(
        "TDX TCB info of an FMSPC",
        [_query("fmspc", _hex(12), True), UPDATE],
        _document("application/json", "TCB-Info-Issuer-Chain"),
    )
    paths["/tdx/certification/v4/qe/identity"] = _get(
        "TD QE identity", [UPDATE], _document("application/json", "SGX-Enclave-Identity-Issuer-Chain")
    )
    paths["/metrics"] = {
        "get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text exposition format"}}}
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
