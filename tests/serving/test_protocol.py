"""The limits every pydcap server enforces, against real hostile clients on loopback: slow heads and bodies,
oversized heads (64 MB, 10,000 headers), too many connections, encoded path separators; meanwhile an ordinary
client keeps being answered. The server here is a ``ThreadedServer`` around a small echoing application."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from pydcap.serving import ServerLimits, ThreadedServer
from tests.serving.hostile import (
    HEAD,
    Bystander,
    SlowClients,
    connect,
    headers_of,
    read_answer,
    send_and_read,
    status_of,
)

Scope = dict[str, Any]


async def echo(scope: Scope, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    """Answers ``<path> <bytes of body>``."""
    assert scope["type"] == "http"
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = f"{scope['path']} {size}".encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


Serve = Callable[..., ThreadedServer]


@pytest.fixture
def serve() -> Iterator[Serve]:
    servers: list[ThreadedServer] = []

    def start(**limits: Any) -> ThreadedServer:
        server = ThreadedServer(echo, limits=ServerLimits(**limits))
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def url(server: ThreadedServer, path: str = "/healthz") -> str:
    return f"http://127.0.0.1:{server.port}{path}"


def test_slow_heads_are_cut_off_while_others_are_answered(serve: Serve) -> None:
    server = serve(header_timeout=1.0, request_timeout=2.0)
    slow = SlowClients(server.port, count=40, interval=0.2)
    with Bystander(url(server)).asking() as others:
        slow.run(seconds=6.0)
    assert slow.still_open == 0, "slow connections outlived the header timeout"
    assert {status_of(a) for a in slow.answers} == {408}
    assert b"the request head did not arrive within 1 s" in slow.answers[0]
    assert others.answered > 10 and not others.failed


def test_an_idle_connection_is_closed_after_the_header_timeout(serve: Serve) -> None:
    server = serve(header_timeout=0.5)
    with connect(server.port) as sock:
        answer = read_answer(sock, timeout=5)
    assert status_of(answer) == 408
    assert headers_of(answer)["connection"] == "close"


def test_a_slow_body_is_cut_off_at_the_request_timeout(serve: Serve) -> None:
    server = serve(header_timeout=0.5, request_timeout=1.5)
    with connect(server.port) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        sock.settimeout(0.25)
        answer = b""
        for _ in range(40):  # a byte every 0.25 s: the head came in time, the body never will
            try:
                sock.sendall(b"x")
                answer += sock.recv(4096)
                if answer:
                    break
            except TimeoutError:
                continue
            except OSError:
                break
        answer += read_answer(sock, timeout=2)
    assert status_of(answer) == 408, answer
    assert b"the request did not arrive within 1.5 s" in answer


def test_a_64_mb_header_is_refused_after_16_kib_and_others_are_answered(serve: Serve) -> None:
    server = serve()
    with Bystander(url(server)).asking() as others:
        answer = send_and_read(server.port, HEAD + b"X-Big: " + b"a" * (64 << 20) + b"\r\n\r\n")
    assert status_of(answer) == 431
    assert headers_of(answer)["content-type"] == "text/plain; charset=utf-8"
    assert b"over 16384 bytes" in answer
    assert others.answered > 0 and not others.failed


def test_ten_thousand_headers_are_refused(serve: Serve) -> None:
    server = serve()
    headers = b"".join(b"X-%d: 1\r\n" % i for i in range(10_000))
    assert status_of(send_and_read(server.port, HEAD + headers + b"\r\n")) == 431


def test_a_head_under_the_limit_with_a_body_in_the_same_packets_is_served(serve: Serve) -> None:
    server = serve(max_header_bytes=1024)
    body = b"y" * 200_000
    padding = b"X-Pad: " + b"p" * 900 + b"\r\n"
    request = b"POST /up HTTP/1.1\r\nHost: x\r\n" + padding + b"Content-Length: %d\r\n\r\n" % len(body) + body
    with connect(server.port) as sock:
        sock.sendall(request + b"GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = read_answer(sock)
    assert answer.count(b"HTTP/1.1 200 OK") == 2, answer[:500]
    assert answer.endswith(b"/next 0")
    assert b"/up 200000" in answer


def test_a_one_megabyte_header_from_an_ordinary_client_gets_431(serve: Serve) -> None:
    server = serve()
    with httpx.Client() as client:
        try:
            status = client.get(url(server), headers={"X-Big": "a" * (1 << 20)}).status_code
        except httpx.TransportError:  # the server may close before the client finished writing
            status = None
    assert status in (431, None)
    assert httpx.get(url(server)).status_code == 200


def test_an_oversized_body_gets_413(serve: Serve) -> None:
    server = serve(max_body_bytes=1000)

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"z" * 100

    answer = httpx.post(url(server, "/up"), content=chunks())
    assert answer.status_code == 413
    assert httpx.post(url(server, "/up"), content=b"z" * 1000).text == "/up 1000"


def test_connections_past_the_per_client_limit_are_refused_and_others_still_served(serve: Serve) -> None:
    server = serve(max_connections_per_client=5, header_timeout=5.0)
    held = [connect(server.port) for _ in range(5)]
    try:
        with connect(server.port) as extra:
            answer = read_answer(extra, timeout=5)
        assert status_of(answer) == 503
        assert headers_of(answer)["retry-after"] == "1"
        assert httpx.get(url(server), timeout=5).status_code == 200  # from 127.0.0.1: another client
    finally:
        for sock in held:
            sock.close()


def test_connections_past_the_total_limit_are_refused(serve: Serve) -> None:
    server = serve(max_connections=3, max_connections_per_client=0, header_timeout=5.0)
    held = [connect(server.port) for _ in range(3)]
    try:
        with connect(server.port, source="127.0.0.1") as extra:
            assert status_of(read_answer(extra, timeout=5)) == 503
    finally:
        for sock in held:
            sock.close()
    assert httpx.get(url(server), timeout=5).status_code == 200  # their slots are free again


@pytest.mark.parametrize("path", ["/sgx%2Fcertification", "/a%2fb", "/a/%2e%2e/b", "/a%5Cb", "/a%00"])
def test_encoded_separators_are_refused_before_routing(serve: Serve, path: str) -> None:
    server = serve()
    answer = send_and_read(server.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status_of(answer) == 400
    assert b"send it unencoded" in answer


def test_other_encodings_reach_the_application_decoded(serve: Serve) -> None:
    server = serve()
    assert httpx.get(url(server, "/a%20b%41")).text == "/a bA 0"


def test_every_answer_says_nosniff(serve: Serve) -> None:
    server = serve(max_body_bytes=10)
    assert httpx.get(url(server)).headers["x-content-type-options"] == "nosniff"
    refused = httpx.post(url(server, "/up"), content=b"z" * 11)
    assert refused.status_code == 413 and refused.headers["x-content-type-options"] == "nosniff"
    bad = send_and_read(server.port, b"NOT HTTP\r\n\r\n")
    assert status_of(bad) == 400 and headers_of(bad)["x-content-type-options"] == "nosniff"


def test_keep_alive_serves_many_requests_on_one_connection(serve: Serve) -> None:
    server = serve(max_header_bytes=512)
    with httpx.Client() as client:
        for i in range(50):
            assert client.post(url(server, f"/r{i}"), content=b"b" * i).text == f"/r{i} {i}"


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="header_timeout"):
        ServerLimits(header_timeout=0)
    with pytest.raises(ValueError, match="max_connections_per_client"):
        ServerLimits(max_connections_per_client=-1)


def test_the_connection_limit_fits_the_file_limit() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert ServerLimits(max_connections=10**9).connection_cap() <= max(1, soft - 64)


def test_many_clients_in_parallel(serve: Serve) -> None:
    server = serve()
    failures: list[str] = []

    def ask() -> None:
        with httpx.Client() as client:
            for _ in range(20):
                response = client.get(url(server))
                if response.status_code != 200:
                    failures.append(response.text)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
