"""Retries, backoff, Retry-After and deadlines, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from pydcap.intel import EntryKind
from pydcap.serving.tls import self_signed
from pydcap.sources import (
    AzureClient,
    CollateralNotFoundError,
    HttpSettings,
    PccsClient,
    RateLimitedError,
    RetryPolicy,
    Tee,
    TlsVerificationError,
    UpstreamServerError,
    UpstreamUnreachableError,
)
from pydcap.sources.http import display_url, retry_after_seconds
from pydcap.sources.intel_api import split_api_url
from tests.sources.pccs_replay import Answer, ReplayPccs

FMSPC = bytes.fromhex("00a067110000")
TCB_PATH = "/sgx/certification/v4/tcb?fmspc=00A067110000"


def _settings(**retry: float) -> HttpSettings:
    return HttpSettings(retry=RetryPolicy(**{"attempts": 4, "backoff": 0.01, "deadline": 10, **retry}))  # type: ignore[arg-type]


def test_server_errors_are_retried_until_an_answer(replay_pccs: ReplayPccs) -> None:
    replay_pccs.queue("/tcb", Answer(503, {}, b"busy"), times=2)
    got = asyncio.run(PccsClient(replay_pccs.url, settings=_settings()).tcb_info(Tee.SGX, FMSPC))
    assert got.data.startswith(b'{"tcbInfo"') and replay_pccs.counts[TCB_PATH] == 3


def test_retries_are_bounded(replay_pccs: ReplayPccs) -> None:
    replay_pccs.queue("/tcb", Answer(500, {}, b"broken"), times=10)
    with pytest.raises(UpstreamServerError) as caught:
        asyncio.run(PccsClient(replay_pccs.url, settings=_settings(attempts=3)).tcb_info(Tee.SGX, FMSPC))
    assert caught.value.status == 500 and replay_pccs.counts[TCB_PATH] == 3


def test_a_miss_is_not_retried(replay_pccs: ReplayPccs) -> None:
    with pytest.raises(CollateralNotFoundError) as caught:
        asyncio.run(PccsClient(replay_pccs.url, settings=_settings()).tcb_info(Tee.SGX, bytes.fromhex("00906ed50000")))
    assert replay_pccs.total() == 1
    assert caught.value.document is EntryKind.TCB_INFO  # what was asked for, as a field


class Clock:
    """A monotonic clock that only sleeping moves: the retries' ``clock`` and ``sleep``, waits recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _clocked(clock: Clock, **retry: float) -> HttpSettings:
    return dataclasses.replace(_settings(**retry), clock=clock, sleep=clock.sleep)


def _mock(answers: list[httpx.Response | Exception]) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    """An httpx client whose transport gives ``answers`` in turn (an exception is raised as the transport's)."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[len(seen) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.AsyncClient(transport=httpx.MockTransport(handle)), seen


def test_429_waits_as_long_as_retry_after_says(replay_pccs: ReplayPccs) -> None:
    replay_pccs.queue("/tcb", Answer(429, {"Retry-After": "3"}, b"slow down"))
    clock = Clock()
    got = asyncio.run(PccsClient(replay_pccs.url, settings=_clocked(clock)).tcb_info(Tee.SGX, FMSPC))
    assert clock.slept == [3.0], "the retry came before the service allowed it"
    assert got.data and replay_pccs.counts[TCB_PATH] == 2


def test_503_with_an_http_date_retry_after_is_honoured(replay_pccs: ReplayPccs) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=4), usegmt=True)
    replay_pccs.queue("/tcb", Answer(503, {"Retry-After": when}, b"maintenance"))
    clock = Clock()
    asyncio.run(PccsClient(replay_pccs.url, settings=_clocked(clock)).tcb_info(Tee.SGX, FMSPC))
    assert len(clock.slept) == 1 and 2.0 <= clock.slept[0] <= 4.0 and replay_pccs.counts[TCB_PATH] == 2


def test_backoff_doubles_up_to_its_cap_and_the_deadline_ends_the_retries() -> None:
    clock = Clock()
    client, seen = _mock([httpx.ConnectError("refused")] * 10)
    settings = _clocked(clock, attempts=10, backoff=1, max_delay=4, deadline=10)

    async def fetch() -> None:
        async with PccsClient("https://pccs.test/sgx/certification/v4/", settings=settings, client=client) as pccs:
            await pccs.tcb_info(Tee.SGX, FMSPC)

    with pytest.raises(UpstreamUnreachableError) as caught:
        asyncio.run(fetch())
    # 1 + 2 + 4 = 7 s waited; the next wait (4 s, the cap) would end past the 10 s deadline: the fourth try is the last.
    assert clock.slept == [1.0, 2.0, 4.0] and len(seen) == 4
    assert not caught.value.timed_out and caught.value.document is EntryKind.TCB_INFO
    assert "4 attempts in 7.0 s" in caught.value.hint


def test_a_transport_timeout_is_named_as_one() -> None:
    client, _ = _mock([httpx.ReadTimeout("no answer")] * 2)
    settings = _clocked(Clock(), attempts=2)

    async def fetch() -> None:
        async with PccsClient("https://pccs.test/sgx/certification/v4/", settings=settings, client=client) as pccs:
            await pccs.qe_identity(Tee.TDX)

    with pytest.raises(UpstreamUnreachableError) as caught:
        asyncio.run(fetch())
    assert caught.value.timed_out and caught.value.document is EntryKind.QE_IDENTITY


def test_a_retry_after_beyond_the_policy_fails_at_once_and_says_how_long(replay_pccs: ReplayPccs) -> None:
    replay_pccs.queue("/tcb", Answer(429, {"Retry-After": "120"}, b"slow down"))
    with pytest.raises(RateLimitedError) as caught:
        asyncio.run(PccsClient(replay_pccs.url, settings=_settings(max_delay=5)).tcb_info(Tee.SGX, FMSPC))
    assert caught.value.retry_after == 120 and "wait 120 s" in str(caught.value)
    assert replay_pccs.total() == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_nobody_listening_fails_fast_and_says_so() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    with pytest.raises(UpstreamUnreachableError) as caught:
        asyncio.run(PccsClient(url, settings=_settings(attempts=3, backoff=0.05)).root_ca_crl())
    assert time.monotonic() - started < 5
    exc = caught.value
    assert exc.status is None and exc.url == f"{url}/sgx/certification/v4/rootcacrl"
    assert "gave no answer" in str(exc) and "3 attempts" in exc.hint
    assert not exc.timed_out and exc.document is EntryKind.ROOT_CA_CRL


def test_a_silent_server_is_given_up_on_at_the_deadline(replay_pccs: ReplayPccs) -> None:
    replay_pccs.latency = 1.5
    settings = HttpSettings(read_timeout=30, retry=RetryPolicy(attempts=5, backoff=0.01, deadline=0.5))
    started = time.monotonic()
    with pytest.raises(UpstreamUnreachableError, match="Timeout") as caught:
        asyncio.run(PccsClient(replay_pccs.url, settings=settings).root_ca_crl())
    assert time.monotonic() - started < 4
    assert caught.value.timed_out


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (Answer(302, {"Location": "/sgx/certification/v4/rootcacrl"}, b""), "TooManyRedirects"),
        (Answer(200, {"Content-Encoding": "gzip"}, b"not gzip at all"), "DecodingError"),
    ],
)
def test_an_answer_that_cannot_be_read_is_a_named_error(replay_pccs: ReplayPccs, answer: Answer, reason: str) -> None:
    replay_pccs.queue("/rootcacrl", answer, times=100)
    with pytest.raises(UpstreamUnreachableError, match=reason):
        asyncio.run(PccsClient(replay_pccs.url, settings=_settings(attempts=2)).root_ca_crl())


def test_a_given_httpx_client_is_used_and_left_open(replay_pccs: ReplayPccs) -> None:
    async def run() -> bool:
        async with httpx.AsyncClient(headers={"X-Test": "yes"}) as client:
            source = PccsClient(replay_pccs.url, client=client)
            await source.root_ca_crl()
            await source.aclose()
            return client.is_closed

    assert asyncio.run(run()) is False
    assert replay_pccs.request_headers[0]["x-test"] == "yes"


def test_a_source_can_be_used_from_one_event_loop_after_another(replay_pccs: ReplayPccs) -> None:
    client = PccsClient(replay_pccs.url)
    for _ in range(2):
        assert asyncio.run(client.root_ca_crl()).data


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), ("0", 0.0), ("-3", 0.0), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after_values(header: str, seconds: float | None) -> None:
    response = httpx.Response(429, headers={"Retry-After": header})
    assert retry_after_seconds(response) == seconds


def test_retry_after_as_a_future_date() -> None:
    response = httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT"})
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC).timestamp()
    assert retry_after_seconds(response, now) == 30


@pytest.mark.parametrize(
    ("url", "root", "version"),
    [
        ("https://api.trustedservices.intel.com", "https://api.trustedservices.intel.com", None),
        ("https://pccs:8081/sgx/certification/v4/", "https://pccs:8081", 4),
        ("https://pccs:8081/sgx/certification/v3", "https://pccs:8081", 3),
        ("http://127.0.0.1:9/tdx/certification/v4/", "http://127.0.0.1:9", 4),
    ],
)
def test_service_urls(url: str, root: str, version: int | None) -> None:
    assert split_api_url(url) == (root, version)


def test_long_urls_are_shortened_in_messages() -> None:
    url = "https://x/pckcert?encrypted_ppid=" + "ab" * 384
    assert len(display_url(url)) < 300 and display_url("https://x/y") == "https://x/y"


def test_bad_urls_and_versions_are_refused() -> None:
    for url in ("ftp://pccs", "https://", "pccs:8081"):
        with pytest.raises(ValueError, match="http:// or https:// URL with a host"):
            PccsClient(url)
    with pytest.raises(ValueError, match="not a URL"):
        PccsClient("http://[::1")
    with pytest.raises(ValueError, match="Azure tdx_url"):
        AzureClient(tdx_url="http://[::1/sgx/certification")
    with pytest.raises(ValueError, match="API version"):
        PccsClient("https://pccs/sgx/certification/v2/")


def test_an_untrusted_tls_certificate_is_one_named_failure_not_retried(tmp_path: Path) -> None:
    """An untrusted certificate is not transient: one connection, then ``TlsVerificationError`` saying so."""
    cert_pem, key_pem = self_signed("127.0.0.1")
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    connections: list[int] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(1)
            with conn, contextlib.suppress(OSError):
                context.wrap_socket(conn, server_side=True)  # the client refuses the certificate

    threading.Thread(target=accept, daemon=True).start()
    url = f"https://127.0.0.1:{listener.getsockname()[1]}"
    try:
        with pytest.raises(TlsVerificationError) as caught:
            asyncio.run(PccsClient(url, settings=_settings(attempts=4)).root_ca_crl())
    finally:
        listener.close()
    assert connections == [1]
    assert "its TLS certificate is not trusted: self-signed certificate" in str(caught.value)
    assert isinstance(caught.value, UpstreamUnreachableError)  # a service that cannot be used (exit status 3)
