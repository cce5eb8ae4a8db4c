"""The PCCS as an ASGI application: Intel's routes, parameter checks, headers and statuses over a
``PccsService``, with a fast path for what is cached: the complete answer (body and headers) is prepared
once per document and served by a dictionary lookup on the raw path and query, adding only ``Request-ID``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from pydcap.cache import Entry, EntryKey
from pydcap.intel import protocol
from pydcap.pccs import tables
from pydcap.pccs.collateral_file import import_collateral
from pydcap.pccs.config import CachingMode, PccsConfig
from pydcap.pccs.errors import (
    InvalidRequest,
    PccsError,
    ServiceUnavailable,
    Unauthorized,
    UpstreamFailed,
    as_pccs_error,
)
from pydcap.pccs.openapi import openapi_document
from pydcap.pccs.queries import (
    PckCertQuery,
    crl_uri_key,
    fmspc_list,
    parse_query,
    pck_crl_query,
    registration_from_json,
    tcb_query,
    update_value,
)
from pydcap.pccs.refresh import Refresher
from pydcap.pccs.service import PccsService
from pydcap.pccs.wire import (
    CRL_DER,
    CRL_HEX,
    JSON,
    PEM_TEXT,
    PROMETHEUS,
    STALE_WARNING,
    V3_WARNING,
    Reply,
    error_reply,
    new_request_id,
    reply,
    text_reply,
)
from pydcap.serving.auth import token_matches
from pydcap.serving.bodies import parse_json, read_body
from pydcap.serving.metrics import Metrics, WorkerSnapshots
from pydcap.sources.http import display_url
from pydcap.sources.models import Tee, Update
from pydcap.trust import BoundedCache

log = logging.getLogger("pydcap.pccs")
access_log = logging.getLogger("pydcap.pccs.access")  # one info line per request

T = TypeVar("T")
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_REQUEST_ID = re.compile(rb"[0-9A-Za-z._-]{1,64}")
# What a prepared answer costs beyond its bytes (the objects holding them, the map's entry).
_PREPARED_OVERHEAD = 512
_STALE_RECHECK = 5.0
_PCK_ANSWER_LIFETIME = 3600.0
_PUBLISH_INTERVAL = 1.0  # how often a worker publishes its metrics for the others (only when they changed)
# Documents an import's Warning header names at most (the log names all): a file older than the cache leaves
# out a few for each FMSPC, and a header of hundreds is refused by proxies and by Python's http.client.
_WARNING_NOTES = 10
OK_TEXT = "Operation successful."
# How long an admin refresh is waited for before it is answered 202 and left to finish in the background: a slow
# upstream must not hold the administrator's request (nor a proxy's connection) for minutes.
REFRESH_ANSWER_WITHIN = 20.0
REFRESH_CONTINUES = (
    "Refresh started; it continues in the background (the log and the pydcap_pccs_refreshes_total metric say how "
    "it ended)."
)


@dataclass
class Call:
    """One request as the handlers see it."""

    query: dict[str, str]
    body: bytes
    api: int
    tee: Tee
    cache_until: float | None = None  # set by a handler whose reply may be served again until then
    cache_result: str | None = None  # "hit" or "miss", for the metrics


Handler = Callable[[Call], Awaitable[Reply]]


@dataclass(frozen=True)
class Route:
    endpoint: str
    handlers: dict[str, Handler]
    api: int
    tee: Tee
    auth: dict[str, str]  # method -> "user" or "admin"


@dataclass(frozen=True, slots=True)
class Prepared:
    reply: Reply
    until: float
    endpoint: str
    nbytes: int  # what it holds, its key (path and query) included


def _prepared(key: tuple[str, bytes], answer: Reply, until: float, endpoint: str) -> Prepared:
    size = len(answer.body) + sum(len(k) + len(v) for k, v in answer.headers) + len(key[0]) + len(key[1])
    return Prepared(answer, until, endpoint, size + _PREPARED_OVERHEAD)


class PccsApp:
    """``PccsApp(service, config)`` is the ASGI callable; ``lifespan`` starts and stops the refresher.

    ``snapshots``, for a worker among several: ``/metrics`` then reports the totals of all the workers.
    """

    def __init__(
        self,
        service: PccsService,
        config: PccsConfig,
        *,
        refresh_tick: float = 1.0,
        snapshots: WorkerSnapshots | None = None,
    ) -> None:
        self.service = service
        self.config = config
        self.metrics = service.metrics
        self.snapshots = snapshots
        # One thread for the snapshot files: they are written in the order they were taken (even when the
        # coroutine waiting for a write is cancelled), and a scrape reads them after every earlier write.
        self._snapshot_io = ThreadPoolExecutor(1, "pccs-metrics") if snapshots is not None else None
        self._publisher: asyncio.Task[None] | None = None
        # Answers ready to send again, by raw path and query: at most ``config.prepared_answer_bytes`` of them (a
        # client naming the same document with ever new queries only pushes out the least recently served ones).
        self.fast: BoundedCache[Prepared] = BoundedCache(
            max_bytes=config.prepared_answer_bytes, sizeof=lambda p: p.nbytes
        )
        self._fast_epoch = 0  # bumped by drop_prepared: an answer begun before it is not prepared after it
        self.routes = self._routes()
        self.refresher = Refresher(
            service, config.schedule, margin=config.refresh_before_next_update, on_change=self.drop_prepared,
            tick=refresh_tick,
        )  # fmt: skip
        self._task: asyncio.Task[None] | None = None
        self._openapi = json.dumps(openapi_document()).encode()
        self.refresh_answer_within = REFRESH_ANSWER_WITHIN
        self._manual: dict[str, asyncio.Task[Reply]] = {}  # admin refreshes running, by kind (one of each at a time)

    def drop_prepared(self) -> None:
        """Forget every prepared answer (cached answers changed), including those being prepared now."""
        self.fast.clear()
        self._fast_epoch += 1

    # ---- ASGI -------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.lifespan(receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.refresher.run())
        if self.snapshots is not None and self._publisher is None:
            self._publisher = asyncio.get_running_loop().create_task(self._publish_periodically())

    async def shutdown(self) -> None:
        for refresh in self._manual.values():
            refresh.cancel()
        await asyncio.gather(*self._manual.values(), return_exceptions=True)
        for task in (self._task, self._publisher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._publisher = None
        if self.snapshots is not None:
            await self._with_snapshot(self.snapshots.publish)  # the last numbers of a worker that stops
        await self.service.aclose()

    async def _publish_periodically(self) -> None:
        """Keep this worker's snapshot recent, for the scrapes that other workers answer."""
        assert self.snapshots is not None
        while True:
            await self._with_snapshot(self.snapshots.publish)
            await asyncio.sleep(_PUBLISH_INTERVAL)

    async def _with_snapshot(self, use: Callable[[Metrics], T]) -> T:
        """``use(a copy of the numbers now)`` in the snapshot thread."""
        return await asyncio.get_running_loop().run_in_executor(self._snapshot_io, use, self.metrics.copy())

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = b""
        for name, value in scope["headers"]:
            if name == b"request-id":
                request_id = value if _REQUEST_ID.fullmatch(value) else b""
                break
        rid = request_id or new_request_id()
        path: str = scope["path"]
        if scope["method"] == "GET":
            prepared = self.fast.get((path, scope["query_string"]))
            if prepared is not None and prepared.until > self.service.clock():
                await _send(send, prepared.reply, rid)
                # The counters directly, not through Metrics' methods: this is the hot path.
                self.metrics.requests[(prepared.endpoint, prepared.reply.status)] += 1
                self.metrics.cache[(prepared.endpoint, "hit")] += 1
                if access_log.isEnabledFor(logging.INFO):
                    _log_request(scope, prepared.reply.status, prepared.endpoint, rid, started)
                return
        status, endpoint = await self._slow(scope, receive, send, rid)
        if access_log.isEnabledFor(logging.INFO):
            _log_request(scope, status, endpoint, rid, started)

    async def _slow(self, scope: Scope, receive: Receive, send: Send, rid: bytes) -> tuple[int, str]:
        path: str = scope["path"]
        method: str = scope["method"]
        route = self.routes.get(path)
        endpoint = route.endpoint if route is not None else "other"
        epoch = self._fast_epoch
        call: Call | None = None
        try:
            if route is None:
                raise _NotFound("Not found: this PCCS has no such endpoint (see /openapi.json)")
            handler = route.handlers.get(method)
            if handler is None:
                allowed = ", ".join(sorted(route.handlers))
                raise _MethodNotAllowed(f"this endpoint allows {allowed}", headers={"Allow": allowed})
            self._authorize(route, method, scope)
            body = (
                await read_body(scope, receive, self.config.max_request_body, server="this PCCS")
                if method in ("POST", "PUT")
                else b""
            )
            call = Call(parse_query(scope["query_string"]), body, route.api, route.tee)
            answer = await handler(call)
        except Exception as exc:
            call = None  # whatever a handler prepared, its answer is this error
            error = as_pccs_error(exc, self.service.mode)
            if error is None:
                log.exception("%s %s failed unexpectedly", method, path, extra={"request_id": rid.decode()})
                answer = text_reply(500, "Internal server error occurred.")
            else:
                answer = error_reply(error)
                level = logging.WARNING if error.status >= 500 else logging.INFO
                said = error.message if error is exc else f"{error.message} ({exc})"  # the log says what failed
                log.log(level, "%s %s -> %d: %s", method, path, error.status, said,
                        extra={"request_id": rid.decode(), "status": error.status, "endpoint": endpoint})  # fmt: skip
        if route is not None and route.api == 3:
            answer = answer.with_headers({"Warning": V3_WARNING})
        if call is not None:
            if call.cache_result is not None:
                self.metrics.cache_result(endpoint, call.cache_result)
            if call.cache_until is not None and method == "GET" and epoch == self._fast_epoch:
                key = (path, scope["query_string"])
                self.fast.put(key, _prepared(key, answer, call.cache_until, endpoint))
        self.metrics.request(endpoint, answer.status)
        await _send(send, answer, rid)
        return answer.status, endpoint

    def _authorize(self, route: Route, method: str, scope: Scope) -> None:
        role = route.auth.get(method)
        if role is None:
            return
        header = b"admin-token" if role == "admin" else b"user-token"
        token = next((v for k, v in scope["headers"] if k == header), None)
        expected = self.config.admin_token_hash if role == "admin" else self.config.user_token_hash
        if not token_matches(token, expected):
            why = "missing" if not token else "wrong"
            configured = (
                "" if expected else f" (no {'AdminTokenHash' if role == 'admin' else 'UserTokenHash'} is configured)"
            )
            raise Unauthorized(f"The {header.decode()} header is {why}{configured}.")

    # ---- routes -----------------------------------------------------------------------------------

    def _routes(self) -> dict[str, Route]:
        routes: dict[str, Route] = {}
        for api in (3, 4):
            base = f"/sgx/certification/v{api}"
            table: list[tuple[str, dict[str, Handler], dict[str, str]]] = [
                (protocol.PCK_CERTIFICATE, {"GET": self.pckcert}, {}),
                (protocol.PCK_CRL, {"GET": self.pckcrl}, {}),
                (protocol.TCB_INFO, {"GET": self.tcb}, {}),
                (protocol.QE_IDENTITY, {"GET": self.qe_identity}, {}),
                (protocol.QVE_IDENTITY, {"GET": self.qve_identity}, {}),
                (protocol.ROOT_CA_CRL, {"GET": self.rootcacrl}, {}),
                (protocol.CRL, {"GET": self.crl}, {}),
                (
                    protocol.PLATFORMS,
                    {"POST": self.post_platforms, "GET": self.get_platforms},
                    {"POST": "user", "GET": "admin"},
                ),
                (protocol.PLATFORM_COLLATERAL, {"PUT": self.platformcollateral}, {"PUT": "admin"}),
                (protocol.REFRESH, {"GET": self.refresh, "POST": self.refresh}, {"GET": "admin", "POST": "admin"}),
            ]
            for name, handlers, auth in table:
                routes[f"{base}/{name}"] = Route(f"sgx/v{api}/{name}", handlers, api, Tee.SGX, auth)
        for name, handler in ((protocol.TCB_INFO, self.tcb), (protocol.QE_IDENTITY, self.qe_identity)):
            routes[f"/tdx/certification/v4/{name}"] = Route(f"tdx/v4/{name}", {"GET": handler}, 4, Tee.TDX, {})
        routes["/metrics"] = Route("metrics", {"GET": self.metrics_page}, 4, Tee.SGX, {})
        routes["/openapi.json"] = Route("openapi", {"GET": self.openapi}, 4, Tee.SGX, {})
        routes["/healthz"] = Route("healthz", {"GET": self.health}, 4, Tee.SGX, {})
        return routes

    # ---- collateral documents -------------------------------------------------------------------

    def _document_reply(
        self, call: Call, entry: Entry, body: bytes, content_type: str, chain_header: str | None
    ) -> Reply:
        headers = {chain_header: protocol.url_encoded(entry.issuer_chain)} if chain_header else {}
        now = self.service.clock()
        if entry.stale:
            headers["Warning"] = STALE_WARNING
            call.cache_until = now + _STALE_RECHECK
        else:
            call.cache_until = float(entry.valid_until)
        call.cache_result = "miss" if entry.origin == "upstream" else "hit"
        return reply(200, body, content_type, headers)

    async def _json_document(self, call: Call, key: EntryKey, chain_header: str) -> Reply:
        entry = await self.service.document(key, call.api)
        return self._document_reply(call, entry, entry.data, JSON, chain_header)

    async def tcb(self, call: Call) -> Reply:
        key = tcb_query(call.query, call.tee.value)
        header = protocol.SGX_TCB_INFO_ISSUER_CHAIN if call.api == 3 else protocol.TCB_INFO_ISSUER_CHAIN
        return await self._json_document(call, key, header)

    async def qe_identity(self, call: Call) -> Reply:
        key = EntryKey.qe_identity(call.tee, Update(update_value(call.query)))
        return await self._json_document(call, key, protocol.ENCLAVE_IDENTITY_ISSUER_CHAIN)

    async def qve_identity(self, call: Call) -> Reply:
        key = EntryKey.qve_identity(Update(update_value(call.query)))
        return await self._json_document(call, key, protocol.ENCLAVE_IDENTITY_ISSUER_CHAIN)

    async def pckcrl(self, call: Call) -> Reply:
        key, der = pck_crl_query(call.query)
        entry = await self.service.document(key)
        body, content_type = (entry.data, CRL_DER) if der else (entry.data.hex().encode(), PEM_TEXT)
        return self._document_reply(call, entry, body, content_type, protocol.PCK_CRL_ISSUER_CHAIN)

    async def rootcacrl(self, call: Call) -> Reply:
        entry = await self.service.document(EntryKey.root_ca_crl())
        if (call.query.get("encoding") or "").lower() == "der":
            return self._document_reply(call, entry, entry.data, CRL_DER, None)
        return self._document_reply(call, entry, entry.data.hex().encode(), CRL_HEX, None)

    async def crl(self, call: Call) -> Reply:
        entry = await self.service.document(crl_uri_key(call.query))
        return self._document_reply(call, entry, entry.data, CRL_DER, None)

    async def pckcert(self, call: Call) -> Reply:
        answer = await self.service.platforms.pck_certificate(PckCertQuery.read(call.query))
        call.cache_until = self.service.clock() + _PCK_ANSWER_LIFETIME
        headers = {
            protocol.TCBM: answer.tcbm,
            protocol.FMSPC: answer.fmspc,
            protocol.PCK_CERTIFICATE_CA_TYPE: answer.ca,
            protocol.PCK_CERTIFICATE_ISSUER_CHAIN: protocol.url_encoded(answer.issuer_chain),
        }
        return reply(200, answer.cert, PEM_TEXT, headers)

    # ---- administration ---------------------------------------------------------------------------

    async def post_platforms(self, call: Call) -> Reply:
        update = update_value(call.query, allow_all=True)
        registration = registration_from_json(parse_json(call.body))
        await self.service.platforms.register(registration, update)
        return text_reply(200, OK_TEXT)

    async def get_platforms(self, call: Call) -> Reply:
        source = call.query.get("source") or "reg"
        registry = self.service.registry
        state = tables.QUEUE_STATES.get(source)
        if state is not None:
            rows = [r.to_json() for r in await asyncio.to_thread(registry.registrations, state, take=True)]
        else:
            if not (source.startswith("[") and source.endswith("]")):
                raise InvalidRequest("source must be reg, reg_na or a list of FMSPCs like [00906ED50000,...]")
            rows = await asyncio.to_thread(registry.cached_platform_rows, fmspc_list(source))
        body = json.dumps(rows, separators=(",", ":"))
        return reply(200, body, JSON, {"platform-count": str(len(rows))})

    async def platformcollateral(self, call: Call) -> Reply:
        summary = await import_collateral(self.service, parse_json(call.body), call.api)
        self.drop_prepared()
        answer = text_reply(200, OK_TEXT)
        if summary.not_imported:  # Intel's body stays; what was left out, and why, is said beside it
            notes = summary.not_imported
            said = "; ".join(notes[:_WARNING_NOTES]).replace('"', "'")
            if len(notes) > _WARNING_NOTES:
                said += f"; and {len(notes) - _WARNING_NOTES} more (the PCCS log names each)"
            answer = answer.with_headers({"Warning": f'299 - "not imported: {said}"'})
        return answer

    async def refresh(self, call: Call) -> Reply:
        """The refresh, answered as it ended; or 202 when it takes longer than ``refresh_answer_within`` seconds,
        and it goes on. A refresh asked for while the same kind runs joins it."""
        kind = call.query.get("type") or ""
        if kind not in ("certs", ""):
            raise InvalidRequest("type must be certs or absent")
        fmspcs = fmspc_list(call.query.get("fmspc") or "")
        if self.service.mode is CachingMode.OFFLINE:
            raise ServiceUnavailable("An OFFLINE PCCS never contacts the upstream; import fresh collateral instead.")
        task = self._manual.get(kind)
        if task is None or task.done():
            work = self._refresh_certificates(fmspcs) if kind == "certs" else self._refresh_all()
            task = self._manual[kind] = asyncio.get_running_loop().create_task(work)
            task.add_done_callback(_log_failure)
        done, _ = await asyncio.wait({task}, timeout=self.refresh_answer_within)
        return task.result() if done else text_reply(202, REFRESH_CONTINUES)

    async def _refresh_certificates(self, fmspcs: list[str]) -> Reply:
        try:
            await self.service.platforms.refresh_certificates(fmspcs)
        finally:
            self.drop_prepared()
        return text_reply(200, OK_TEXT)

    async def _refresh_all(self) -> Reply:
        report = await self.refresher.refresh_all()
        self.drop_prepared()
        if report.skipped:
            raise ServiceUnavailable("Another process sharing this store is refreshing now; retry in a while.")
        self.metrics.refresh("manual_ok" if report.ok else "manual_failed")
        if not report.ok:
            failed = "; ".join(f"{k}: {v}" for k, v in sorted(report.failed.items()))
            raise UpstreamFailed(f"{len(report.failed)} documents could not be refreshed (kept as they were): {failed}")
        return text_reply(200, OK_TEXT)

    # ---- service pages ----------------------------------------------------------------------------

    async def metrics_page(self, call: Call) -> Reply:
        if self.snapshots is None:
            return reply(200, self.metrics.render(), PROMETHEUS)
        total = await self._with_snapshot(self.snapshots.total)
        return reply(200, total.render(), PROMETHEUS)

    async def openapi(self, call: Call) -> Reply:
        return reply(200, self._openapi, "application/json")

    async def health(self, call: Call) -> Reply:
        return reply(200, json.dumps({"status": "ok", "mode": self.service.mode.value}), "application/json")


class _NotFound(PccsError):
    status = 404
    intel_text = "Not found."

    @property
    def message(self) -> str:
        return self.detail


class _MethodNotAllowed(PccsError):
    status = 405
    intel_text = "Method not allowed."


def _log_request(scope: Scope, status: int, endpoint: str, rid: bytes, started: float) -> None:
    """``GET /sgx/certification/v4/tcb?fmspc=... 200 0.4 ms``, with the request's fields for JSON lines."""
    query: bytes = scope["query_string"]
    target = display_url(scope["path"] + ("?" + query.decode("latin-1") if query else ""))  # PPIDs shortened
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    client = scope.get("client")
    access_log.info(
        "%s %s %d %.1f ms", scope["method"], target, status, elapsed,
        extra={"request_id": rid.decode(), "method": scope["method"], "path": target, "status": status,
               "endpoint": endpoint, "duration_ms": elapsed, "client": client[0] if client else None},
    )  # fmt: skip


def _log_failure(task: asyncio.Task[Reply]) -> None:
    """An admin refresh that failed is said in the log, also when nobody waited for its answer any more."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("admin refresh: %s", task.exception())


async def _send(send: Send, answer: Reply, request_id: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": answer.status,
            "headers": [*answer.headers, (b"Request-ID", request_id)],
        }
    )
    await send({"type": "http.response.body", "body": answer.body})
