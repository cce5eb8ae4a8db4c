"""Faults: the upstream down (cached answers still served, stale ones flagged, misses fail in seconds),
rate limited or failing, tampered with (refused, never stored); malformed and oversized requests (400 or
413, never 500)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pydcap.cache import EntryKey
from pydcap.pccs import PccsServer
from pydcap.serving import ThreadedServer
from pydcap.sim import SimulatedIntel
from pydcap.sim.server import SimulatedPcs
from tests.sources.huge_answers import huge_answers
from tests.support.pccs import ADMIN, USER, USER_TOKEN, V4, Clock, Factory, client, pckcert_params


def test_upstream_down_cached_served_stale_flagged_misses_fail_fast(
    make_pccs: Factory, intel: SimulatedIntel, pcs: SimulatedPcs
) -> None:
    clock = Clock()
    pydcap_pccs = make_pccs(clock=clock)
    sgx, tdx = intel.sgx_platform().fmspc.hex(), intel.tdx_platform().fmspc.hex()
    with client(pydcap_pccs) as c:
        fresh = c.get(f"{V4}/tcb", params={"fmspc": sgx})
        pcs.faults.outage()
        cached = c.get(f"{V4}/tcb", params={"fmspc": sgx})
        assert cached.status_code == 200 and cached.content == fresh.content and "Warning" not in cached.headers
        started = time.monotonic()
        miss = c.get("/tdx/certification/v4/tcb", params={"fmspc": tdx})
        assert time.monotonic() - started < 3.0  # Intel's PCCS: about a minute
        assert miss.status_code == 502
        assert miss.text.startswith("Unable to retrieve the collateral from the Intel SGX PCS.")
        assert "gave no answer" in miss.text
        clock.offset = 40 * 86_400.0  # past nextUpdate: a refresh is due, and the upstream is down
        stale = c.get(f"{V4}/tcb", params={"fmspc": sgx})
        assert stale.status_code == 200 and stale.content == fresh.content
        assert stale.headers["Warning"] == '110 - "Response is Stale"'
        pcs.faults.outage(False)
        time.sleep(0.3)
        renewed = c.get(f"{V4}/tcb", params={"fmspc": sgx})
        assert renewed.status_code == 200 and renewed.headers["Warning"]  # still the same issue: still stale


def test_rate_limited_upstream_is_503_with_retry_after(pydcap_pccs: object, pcs: SimulatedPcs) -> None:
    pcs.faults.rate_limit(retry_after=30)
    with client(pydcap_pccs) as c:  # type: ignore[arg-type]
        answer = c.get(f"{V4}/qve/identity")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "30"
    assert "rate limiting" in answer.text


def test_failing_upstream_is_502(pydcap_pccs: object, pcs: SimulatedPcs) -> None:
    pcs.faults.server_error(500)
    with client(pydcap_pccs) as c:  # type: ignore[arg-type]
        answer = c.get("/tdx/certification/v4/qe/identity")
    assert answer.status_code == 502 and "answered 500" in answer.text


Tamper = Callable[[str, bytes, dict[str, str]], tuple[bytes, dict[str, str]]]


@pytest.fixture
def make_proxy(pcs: SimulatedPcs) -> Iterator[Callable[[Tamper], str]]:
    """``make_proxy(tamper)``: the URL of a PCS in the middle whose answers are ``tamper(path, body, headers)``."""
    servers: list[ThreadedServer] = []

    def make(tamper: Tamper) -> str:
        async def forward(request: Request) -> Response:
            async with httpx.AsyncClient() as upstream:
                answer = await upstream.get(f"{pcs.url}{request.url.path}", params=request.query_params)
            headers = {
                k: v for k, v in answer.headers.items() if k.lower() not in ("content-length", "content-encoding")
            }
            body, headers = tamper(request.url.path, answer.content, headers)
            return Response(body, answer.status_code, headers)

        server = ThreadedServer(Starlette(routes=[Route("/{path:path}", forward)]))
        server.start()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}"

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def tampering_proxy(make_proxy: Callable[[Tamper], str]) -> str:
    """A PCS in the middle that upgrades an OutOfDate level of every TCB info to UpToDate."""

    def upgrade(path: str, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        if path.endswith("/tcb"):
            body = body.replace(b'"tcbStatus":"OutOfDate"', b'"tcbStatus":"UpToDate"', 1)
        return body, headers

    return make_proxy(upgrade)


def test_broken_signature_is_refused_and_not_stored(
    make_pccs: Factory, intel: SimulatedIntel, tampering_proxy: str
) -> None:
    pydcap_pccs = make_pccs(upstream=tampering_proxy)
    fmspc = intel.sgx_platform().fmspc.hex()
    with client(pydcap_pccs) as c:
        answer = c.get(f"{V4}/tcb", params={"fmspc": fmspc})
        assert c.get(f"{V4}/qe/identity").status_code == 200  # untouched documents pass
    assert answer.status_code == 502
    assert "refused the SGX TCB info" in answer.text and "TCB_INFO_INVALID_SIGNATURE" in answer.text
    service = pydcap_pccs.app.service
    assert service.store.get(service.cache.root_id, EntryKey.tcb_info("sgx", fmspc)) is None


def _other_fmspc(path: str, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    if path.endswith("/pckcerts"):
        headers = {k: v for k, v in headers.items() if k.lower() != "sgx-fmspc"} | {"SGX-FMSPC": "00A067110000"}
    return body, headers


def _unreadable_certificate(path: str, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    if path.endswith("/pckcerts"):
        items = json.loads(body)
        broken = quote("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", safe="")
        body = json.dumps([{**item, "cert": broken} for item in items]).encode()
    return body, headers


@pytest.mark.parametrize(
    ("tamper", "says"),
    [(_other_fmspc, "SGX-FMSPC 00a067110000 is not the certificate's"), (_unreadable_certificate, "refused")],
)
def test_pck_certificates_the_upstream_misdescribes_are_refused_and_not_stored(
    make_pccs: Factory, make_proxy: Callable[[Tamper], str], intel: SimulatedIntel, tamper: Tamper, says: str
) -> None:
    """The headers beside PCS's certificates are not signed: the FMSPC served with a PCK certificate is the
    certificate's own, and a certificate that cannot be read is the upstream's failure (502), not ours."""
    pydcap_pccs = make_pccs(upstream=make_proxy(tamper))
    platform = intel.sgx_platform(name=f"misdescribed-{tamper.__name__}")
    with client(pydcap_pccs) as c:
        answer = c.get(f"{V4}/pckcert", params=pckcert_params(platform))
    assert answer.status_code == 502, answer.text
    assert says in answer.text
    assert (
        pydcap_pccs.app.service.registry.platform(platform.qe_id.hex().upper(), platform.pce_id.hex().upper()) is None
    )


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", f"{V4}/tcb?fmspc=%ff%fe", {}, 400),
        ("GET", f"{V4}/tcb?" + "a=1&" * 3000, {}, 400),
        ("GET", f"{V4}/pckcert?qeid=00&cpusvn=" + "0" * 10_000, {}, 400),
        ("POST", f"{V4}/platforms", {"content": b"\x00\xff" * 10, "headers": USER}, 400),
        ("POST", f"{V4}/platforms", {"content": b"[" * 100_000, "headers": USER}, 400),
        ("POST", f"{V4}/platforms", {"content": b"x" * (2 * 1024 * 1024), "headers": USER}, 413),
        ("PUT", f"{V4}/platformcollateral", {"content": b"{}" + b" " * (3 * 1024 * 1024), "headers": ADMIN}, 413),
        (
            "PUT",
            f"{V4}/platformcollateral",
            {"json": {"collaterals": {"tcbinfos": [{"fmspc": 5}]}}, "headers": ADMIN},
            400,
        ),
        (
            "PUT",
            f"{V4}/platformcollateral",
            {
                "json": {
                    "collaterals": {
                        "pck_certs": [{"qe_id": "00", "pce_id": "0000", "certs": [{"cert": "junk", "tcbm": "00" * 18}]}]
                    }
                },
                "headers": ADMIN,
            },
            400,
        ),
        ("PUT", f"{V4}/platformcollateral", {"json": {"collaterals": {"rootcacrl": "abcd"}}, "headers": ADMIN}, 400),
        ("PUT", f"{V4}/platformcollateral", {"json": {"collaterals": {"pck_certs": 5}}, "headers": ADMIN}, 400),
        (
            "PUT",
            f"{V4}/platformcollateral",
            {
                "json": {
                    "collaterals": {
                        "tcbinfos": [{"fmspc": "00 906ED50000", "sgx_tcbinfo": {}}],
                        "certificates": {"TCB-Info-Issuer-Chain": "-----BEGIN CERTIFICATE-----"},
                    }
                },
                "headers": ADMIN,
            },
            400,
        ),
        ("GET", f"{V4}/platforms?source=%5B" + "A" * 2000 + "%5D", {"headers": ADMIN}, 400),
    ],
)
def test_malformed_and_oversized_requests(
    make_pccs: Factory, method: str, path: str, kwargs: dict[str, object], status: int
) -> None:
    pydcap_pccs = make_pccs(max_request_body=1024 * 1024)
    with client(pydcap_pccs) as c:
        answer = c.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert answer.status_code == status, answer.text[:300]


def test_garbage_on_the_socket_is_not_a_500(pydcap_pccs: object) -> None:
    host, port = "127.0.0.1", int(pydcap_pccs.url.rsplit(":", 1)[1])  # type: ignore[attr-defined]
    for garbage in (b"\x16\x03\x01\x00\x00garbage\r\n\r\n", b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"):  # fmt: skip
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(garbage)
            reply = s.recv(200)
        assert not reply.startswith(b"HTTP/1.1 5"), reply


def test_headers_a_lenient_asgi_server_might_pass_on(pydcap_pccs: PccsServer) -> None:
    """A Content-Length too long for int() is 413 (not 500), and a Request-ID with a line break is not echoed."""
    scope = {
        "type": "http", "method": "POST", "path": f"{V4}/platforms", "query_string": b"",
        "headers": [(b"request-id", b"abc\n"), (b"user-token", USER_TOKEN.encode()), (b"content-length", b"9" * 5000)],
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(pydcap_pccs.app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert (b"Request-ID", b"abc\n") not in sent[0]["headers"]


def test_an_oversized_upstream_answer_is_refused_not_held(make_pccs: Factory) -> None:
    with huge_answers(size=64 * 1024 * 1024) as (url, _):
        pydcap_pccs = make_pccs(upstream=url)
        with client(pydcap_pccs) as c:
            tracemalloc.start()
            try:
                answer = c.get(f"{V4}/tcb", params={"fmspc": "00906ED50000"})
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
    assert answer.status_code == 502 and "larger than 4194304 bytes" in answer.text
    assert peak < 16 * 2**20, f"{peak / 2**20:.0f} MiB held for a 64 MiB upstream answer"
