"""Upstream answers are read streamed with a size cap and refused past it, never held whole: sources (and so
the PCCS's upstream and refresh), Intel's QCNL provider, the service probe of ``pydcap doctor``."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from pydcap.doctor.probe import probe_service
from pydcap.provider.qcnl.config import QcnlConfig
from pydcap.provider.qcnl.provider import QcnlProvider
from pydcap.sources import HttpSettings, PccsClient, PcsClient, RetryPolicy, Tee, UpstreamServerError
from pydcap.sources.errors import ResponseTooLargeError
from pydcap.sources.http import ERROR_BODY_BYTES, MAX_RESPONSE_BYTES
from tests.sources.huge_answers import huge_answers

T = TypeVar("T")
SIZE = 64 * 1024 * 1024
FMSPC = bytes.fromhex("00906ed50000")
FEW = HttpSettings(retry=RetryPolicy(attempts=2, backoff=0.01, deadline=20))


def peak_memory(run: Callable[[], T]) -> tuple[T | BaseException, int]:
    """What ``run()`` returned (or raised) and the most memory Python held meanwhile."""
    tracemalloc.start()
    try:
        try:
            outcome: T | BaseException = run()
        except Exception as exc:  # the caller looks at it
            outcome = exc
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "shape", [{"content_length": False}, {"content_length": True}, {"gzip": True}], ids=["chunked", "length", "gzip"]
)
def test_an_oversized_answer_is_refused_while_it_is_read(shape: dict[str, Any]) -> None:
    with huge_answers(size=SIZE, **shape) as (url, server):
        outcome, peak = peak_memory(lambda: asyncio.run(PcsClient(url, settings=FEW).tcb_info(Tee.SGX, FMSPC)))
    assert isinstance(outcome, ResponseTooLargeError), outcome
    assert f"larger than {MAX_RESPONSE_BYTES} bytes" in str(outcome) and outcome.status == 200
    assert server.requests == 1, "a refused answer is not asked for again"
    assert peak < 3 * MAX_RESPONSE_BYTES, f"{peak / 2**20:.0f} MiB held for a {SIZE / 2**20:.0f} MiB answer"


def test_of_an_error_answer_only_the_beginning_is_read() -> None:
    with huge_answers(size=SIZE, status=500) as (url, server):
        outcome, peak = peak_memory(lambda: asyncio.run(PccsClient(url, settings=FEW).tcb_info(Tee.SGX, FMSPC)))
    assert isinstance(outcome, UpstreamServerError) and outcome.status == 500
    assert server.requests == 2 and peak < 20 * ERROR_BODY_BYTES + 4 * 2**20


def test_the_cap_is_a_setting() -> None:
    with huge_answers(size=10_000) as (url, _):
        small = HttpSettings(max_response_bytes=9_999)
        with pytest.raises(ResponseTooLargeError):
            asyncio.run(PcsClient(url, settings=small).tcb_info(Tee.SGX, FMSPC))
        http = PcsClient(url, settings=HttpSettings(max_response_bytes=10_000)).http
        got = asyncio.run(http.request("GET", f"{url}/x", what="a document of exactly the cap"))
    assert got.content == b"{" * 10_000 and got.status_code == 200 and got.reason_phrase == "OK"


def test_intels_qcnl_provider_refuses_an_oversized_answer() -> None:
    with huge_answers(size=SIZE) as (url, _):
        config = QcnlConfig(pccs_url=f"{url}/sgx/certification/v4/", collateral_service=f"{url}/sgx/certification/v4/")
        provider = QcnlProvider(config, env={"AZDCAP_CACHE": "/nonexistent-pydcap-cache"}, sleep=lambda _: None)
        outcome, peak = peak_memory(lambda: provider.verification_collateral(FMSPC, "processor"))
        provider.close()
    assert "larger than" in str(outcome), outcome
    assert peak < 3 * MAX_RESPONSE_BYTES


def test_the_service_probe_reads_no_body() -> None:
    with huge_answers(size=SIZE) as (url, _):
        probe, peak = peak_memory(lambda: probe_service(url, timeout=10))
    assert not isinstance(probe, BaseException) and probe.outcome == "served"
    assert peak < 4 * 2**20
