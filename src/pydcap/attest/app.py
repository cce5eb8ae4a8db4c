"""The attestation service as an ASGI application speaking Microsoft Azure Attestation's REST API, so that MAA's
SDKs work unchanged against it: ``POST /attest/{SgxEnclave,OpenEnclave,TdxVm}``, ``GET /certs``,
``GET /.well-known/openid-configuration``, ``GET|PUT /policies/{type}`` and ``POST /policies/{type}:reset``
(administrator: ``Authorization: Bearer <token>``, as MAA's SDKs send their credential's token); the same under
``/tenants/{name}`` for each configured tenant; ``/metrics`` and ``/healthz``. Errors are MAA's JSON error object.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs

from pydcap.attest.ear import EAR_MEDIA_TYPE
from pydcap.attest.errors import (
    AttestError,
    InvalidOperation,
    InvalidParameter,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
)
from pydcap.attest.evidence import AttestationType
from pydcap.attest.service import AttestService
from pydcap.cache import StoreError
from pydcap.serving import Metrics, WorkerSnapshots, token_matches

log = logging.getLogger("pydcap.attest")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# MAA's data-plane API versions (its REST specification); requests naming another are refused.
API_VERSIONS = frozenset({"2018-09-01-preview", "2020-10-01", "2022-08-01", "2022-09-01-preview", "2025-06-01"})
_TENANT_PATH = re.compile(r"^/tenants/([a-z0-9][a-z0-9-]{0,62})(/.*)$")
_POLICY_PATH = re.compile(r"^/policies/([A-Za-z]+)(:reset)?$")
_JSON = b"application/json; charset=utf-8"
_EAR_QUERY = "ear"
_EAR_ACCEPT = EAR_MEDIA_TYPE.encode()
_PUBLISH_INTERVAL = 1.0
_RETRY_AFTER = b"5"


def _types() -> str:
    return ", ".join(t.value for t in AttestationType)


def attestation_type(name: str) -> AttestationType:
    try:
        return AttestationType(name)
    except ValueError:
        raise NotFound(f"attestation type {name!r} is not served here (this service attests {_types()})") from None


class AttestApp:
    """``AttestApp(service)`` is the ASGI callable. ``snapshots``, for a worker among several: ``/metrics`` then
    reports the totals of all the workers."""

    def __init__(
        self, service: AttestService, *, max_body: int = 1024 * 1024, snapshots: WorkerSnapshots | None = None
    ) -> None:
        self.service = service
        self.max_body = max_body
        self.metrics = Metrics("pydcap_attest")
        self.snapshots = snapshots
        self._snapshot_io = ThreadPoolExecutor(1, "attest-metrics") if snapshots is not None else None
        self._publisher: asyncio.Task[None] | None = None

    # ---- ASGI ---------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    if self.snapshots is not None:
                        self._publisher = asyncio.get_running_loop().create_task(self._publish())
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self._publisher is not None:
                        self._publisher.cancel()
                    await self.service.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def _publish(self) -> None:
        assert self.snapshots is not None
        while True:
            await asyncio.get_running_loop().run_in_executor(
                self._snapshot_io, self.snapshots.publish, self.metrics.copy()
            )
            await asyncio.sleep(_PUBLISH_INTERVAL)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        endpoint = "other"
        tracked = _TrackedBody(receive, scope)
        try:
            endpoint, handler = self._route(method, path)
            query = {k: v[-1] for k, v in parse_qs(scope["query_string"].decode("latin-1")).items()}
            status, body = await handler(scope, tracked.receive, query)
        except AttestError as exc:
            status, body = exc.status, exc.to_json()
            level = logging.WARNING if exc.status >= 500 else logging.INFO
            log.log(level, "%s %s -> %d %s: %s", method, path, exc.status, exc.code, exc.message)
        except StoreError as exc:  # the store's own words go to the log only
            error = ServiceUnavailable("the service's store is unavailable; retry in a while")
            status, body = error.status, error.to_json()
            log.warning("%s %s -> 503: %s", method, path, exc)
        except Exception:
            log.exception("%s %s failed unexpectedly", method, path)
            status, body = 500, {"error": {"code": "InternalError", "message": "the service failed unexpectedly"}}
        self.metrics.request(endpoint, status)
        # A body left unread (a request refused before reading it) would stall the connection: close it.
        await _send(send, status, body, close=not tracked.finished)

    # ---- routing ------------------------------------------------------------------------------------

    Handler = Callable[[Scope, Receive, dict[str, str]], Awaitable[tuple[int, Any]]]

    def _route(self, method: str, path: str) -> tuple[str, AttestApp.Handler]:
        tenant = ""
        match = _TENANT_PATH.match(path)
        if match is not None:
            tenant, path = match.group(1), match.group(2)
            self.service.tenant(tenant)  # 404 for an unknown tenant
        elif path in ("/metrics", "/healthz"):
            _allow(method, ("GET",), path)
            return path[1:], self.metrics_page if path == "/metrics" else self.health
        prefix = f"tenants/{tenant}/" if tenant else ""

        def bind(handler: Callable[..., Awaitable[tuple[int, Any]]], *args: Any) -> AttestApp.Handler:
            return lambda scope, receive, query: handler(tenant, scope, receive, query, *args)

        if path.startswith("/attest/"):
            _allow(method, ("POST",), path)
            kind = attestation_type(path[len("/attest/") :])
            return f"{prefix}attest/{kind.value}", bind(self.attest, kind)
        if path == "/certs":
            _allow(method, ("GET",), path)
            return f"{prefix}certs", bind(self.certs)
        if path == "/.well-known/openid-configuration":
            _allow(method, ("GET",), path)
            return f"{prefix}openid-configuration", bind(self.openid)
        if path == "/certificates":  # MAA's policy management certificates (Isolated mode): none here
            _allow(method, ("GET",), path)
            return f"{prefix}certificates", bind(self.policy_certificates)
        if path in ("/certificates:add", "/certificates:remove"):
            _allow(method, ("POST",), path)
            return f"{prefix}certificates", bind(self.modify_policy_certificates)
        policy = _POLICY_PATH.match(path)
        if policy is not None:
            kind = attestation_type(policy.group(1))
            if policy.group(2):
                _allow(method, ("POST",), path)
                return f"{prefix}policies:reset", bind(self.reset_policy, kind)
            _allow(method, ("GET", "PUT"), path)
            handler = self.get_policy if method == "GET" else self.set_policy
            return f"{prefix}policies", bind(handler, kind)
        raise NotFound(f"this attestation service has no endpoint {path}")

    # ---- MAA's API ----------------------------------------------------------------------------------

    async def attest(
        self, tenant: str, scope: Scope, receive: Receive, query: dict[str, str], kind: AttestationType
    ) -> tuple[int, Any]:
        _api_version(query)
        body = await self._body(scope, receive)
        ear = query.get("format") == _EAR_QUERY or _EAR_ACCEPT in _header(scope, b"accept")
        token = await self.service.attest(tenant, kind, body, ear=ear)
        return 200, {"token": token}

    async def certs(self, tenant: str, scope: Scope, receive: Receive, query: dict[str, str]) -> tuple[int, Any]:
        keys = await asyncio.to_thread(self.service.signing_keys, tenant)
        return 200, {"keys": [key.jwk() for key in keys]}

    async def openid(self, tenant: str, scope: Scope, receive: Receive, query: dict[str, str]) -> tuple[int, Any]:
        issuer = self.service.tenant(tenant).issuer
        return 200, {
            "issuer": issuer,
            "jwks_uri": f"{issuer}/certs",
            "id_token_signing_alg_values_supported": [self.service.config.algorithm],
            "response_types_supported": ["token", "none"],
            "claims_supported": [
                "x-ms-attestation-type", "x-ms-sgx-mrenclave", "x-ms-sgx-mrsigner", "x-ms-sgx-product-id",
                "x-ms-sgx-svn", "x-ms-sgx-is-debuggable", "x-ms-sgx-ehd", "x-ms-sgx-report-data",
                "x-ms-sgx-collateral", "tdx_mrtd", "attester_tcb_status", "x-pydcap-tcb-status", "x-pydcap-qv-result",
            ],
        }  # fmt: skip

    def _admin(self, scope: Scope) -> None:
        header = _header(scope, b"authorization")
        token = header[7:].strip() if header[:7].lower() == b"bearer " else b""
        if not token_matches(token, self.service.config.admin_token_hash):
            why = "missing" if not token else "wrong"
            unset = "" if self.service.config.admin_token_hash else " (no admin_token_hash is configured)"
            raise Unauthorized(f"the administrator's bearer token is {why}{unset}")

    async def _policy_token(self, tenant: str, body: dict[str, Any]) -> tuple[int, Any]:
        signed = self.service.sign(self.service.tenant(tenant), body)
        return 200, {"token": signed}

    async def get_policy(
        self, tenant: str, scope: Scope, receive: Receive, query: dict[str, str], kind: AttestationType
    ) -> tuple[int, Any]:
        _api_version(query)
        self._admin(scope)
        document = await asyncio.to_thread(self.service.policy_document, tenant, kind)
        return await self._policy_token(tenant, {"x-ms-policy": document})

    async def set_policy(
        self, tenant: str, scope: Scope, receive: Receive, query: dict[str, str], kind: AttestationType
    ) -> tuple[int, Any]:
        _api_version(query)
        self._admin(scope)
        document = _jws_text(await self._body(scope, receive))
        result = await asyncio.to_thread(self.service.set_policy, tenant, kind, document)
        return await self._policy_token(tenant, result)

    async def reset_policy(
        self, tenant: str, scope: Scope, receive: Receive, query: dict[str, str], kind: AttestationType
    ) -> tuple[int, Any]:
        _api_version(query)
        self._admin(scope)
        document = _jws_text(await self._body(scope, receive))
        result = await asyncio.to_thread(self.service.reset_policy, tenant, kind, document)
        return await self._policy_token(tenant, result)

    async def policy_certificates(
        self, tenant: str, scope: Scope, receive: Receive, query: dict[str, str]
    ) -> tuple[int, Any]:
        """The policy management certificates: always none, as the administrator's token authorizes changes."""
        _api_version(query)
        self._admin(scope)
        return await self._policy_token(tenant, {"x-ms-policy-certificates": {"keys": []}})

    async def modify_policy_certificates(
        self, tenant: str, scope: Scope, receive: Receive, query: dict[str, str]
    ) -> tuple[int, Any]:
        _api_version(query)
        self._admin(scope)
        await self._body(scope, receive)
        raise InvalidOperation(
            "policy management certificates (MAA's Isolated mode) are not supported: this service authorizes "
            "policy changes with its administrator token"
        )

    # ---- service pages ------------------------------------------------------------------------------

    async def metrics_page(self, scope: Scope, receive: Receive, query: dict[str, str]) -> tuple[int, Any]:
        metrics = self.metrics
        if self.snapshots is not None:
            metrics = await asyncio.get_running_loop().run_in_executor(
                self._snapshot_io, self.snapshots.total, self.metrics.copy()
            )
        return 200, metrics.render()

    async def health(self, scope: Scope, receive: Receive, query: dict[str, str]) -> tuple[int, Any]:
        await asyncio.to_thread(self.service.store.counters)  # the store answers
        return 200, {"status": "ok"}

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        length = _header(scope, b"content-length")
        if length and (not length.isdigit() or len(length) > 18):
            raise InvalidParameter("Content-Length is not a number")
        if length and int(length) > self.max_body:
            raise PayloadTooLarge(f"the body is {int(length)} bytes; this service accepts at most {self.max_body}")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise InvalidParameter("the client went away before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise PayloadTooLarge(f"the body is over {self.max_body} bytes, the most this service accepts")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _allow(method: str, allowed: tuple[str, ...], path: str) -> None:
    if method not in allowed:
        raise MethodNotAllowed(f"{method} is not allowed on {path} (allowed: {', '.join(allowed)})")


def _api_version(query: dict[str, str]) -> None:
    version = query.get("api-version")
    if version is None:
        raise InvalidParameter(f"the api-version query parameter is missing (one of {', '.join(sorted(API_VERSIONS))})")
    if version not in API_VERSIONS:
        raise InvalidParameter(f"api-version {version!r} is unknown (one of {', '.join(sorted(API_VERSIONS))})")


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return b""


def _jws_text(body: bytes) -> str:
    """The policy JWS of a PUT or reset: sent as text, or (by some SDKs) as a JSON string."""
    try:
        text = body.decode("ascii").strip()
    except UnicodeDecodeError:
        raise InvalidParameter("the policy document is not ASCII (a JSON Web Signature)") from None
    if text.startswith('"'):
        try:
            decoded = json.loads(text)
        except ValueError:
            raise InvalidParameter("the policy document is a malformed JSON string") from None
        text = decoded if isinstance(decoded, str) else ""
    if not text:
        raise InvalidParameter("the policy document is empty (a JSON Web Signature is expected)")
    return text


class _TrackedBody:
    """The request's ``receive``, remembering whether the whole body was read."""

    def __init__(self, receive: Receive, scope: Scope) -> None:
        self._receive = receive
        self.finished = _header(scope, b"content-length") in (b"", b"0") and not _header(scope, b"transfer-encoding")

    async def receive(self) -> dict[str, Any]:
        message = await self._receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.finished = True
        return message


async def _send(send: Send, status: int, body: Any, *, close: bool = False) -> None:
    if isinstance(body, str):
        data, content_type = body.encode(), b"text/plain; version=0.0.4; charset=utf-8"
    else:
        data, content_type = json.dumps(body, separators=(",", ":")).encode(), _JSON
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(data)).encode()),
        (b"cache-control", b"no-store"),  # and nosniff, which the server (pydcap.serving) puts on every answer
    ]
    if close:
        headers.append((b"connection", b"close"))
    if status == 503:
        headers.append((b"retry-after", _RETRY_AFTER))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
