"""Error answers (issue 12, finding 8): plain text or JSON with ``X-Content-Type-Options: nosniff``, and nothing
of the request reflected in them, from the PCCS and from the simulated PCS it talks to."""

from __future__ import annotations

import httpx
import pytest

from pydcap.sim.server import SimulatedPcs
from tests.support.pccs import ADMIN, USER, V4, Factory

SCRIPT = "<script>alert(1)</script>"


def assert_safe(answer: httpx.Response) -> None:
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
    kind = answer.headers.get("content-type", "")
    assert kind.startswith(("text/plain", "application/json")) or not answer.content, kind
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "<script" not in answer.text and "alert(1)" not in answer.text, answer.text


@pytest.mark.parametrize(
    ("method", "path", "params", "headers"),
    [
        ("GET", f"{V4}/{SCRIPT}", {}, {}),
        ("GET", f"{V4}/tcb", {"fmspc": SCRIPT}, {}),
        ("GET", f"{V4}/tcb", {"fmspc": "00906ED50000", "update": SCRIPT}, {}),
        ("GET", f"{V4}/qe/identity", {"update": SCRIPT}, {}),
        ("GET", f"{V4}/pckcrl", {"ca": SCRIPT}, {}),
        ("GET", f"{V4}/crl", {"uri": SCRIPT}, {}),
        ("GET", f"{V4}/pckcert", {"qeid": SCRIPT}, {}),
        ("GET", f"{V4}/refresh", {"type": SCRIPT}, ADMIN),
        ("GET", f"{V4}/refresh", {"type": "certs", "fmspc": SCRIPT}, ADMIN),
        ("GET", f"{V4}/platforms", {"source": f"[{SCRIPT}]"}, ADMIN),
        ("DELETE", f"{V4}/tcb", {}, {}),
        ("GET", f"{V4}/platforms", {}, {"admin-token": SCRIPT}),
        ("POST", f"{V4}/platforms", {"update": SCRIPT}, USER),
    ],
)
def test_pccs_errors_are_plain_and_reflect_nothing(
    make_pccs: Factory, method: str, path: str, params: dict[str, str], headers: dict[str, str]
) -> None:
    pccs = make_pccs()
    answer = httpx.request(method, pccs.url + path, params=params, headers=headers, json={"qe_id": SCRIPT})
    assert_safe(answer)


def test_pccs_import_errors_reflect_nothing(make_pccs: Factory) -> None:
    pccs = make_pccs()
    for body in ({"platforms": [], "collaterals": {"rootcacrl": SCRIPT}}, {"collaterals": {"version": SCRIPT}}):
        assert_safe(httpx.put(f"{pccs.url}{V4}/platformcollateral", json=body, headers=ADMIN))


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (f"/{SCRIPT}", {}),
        (f"{V4}/tcb", {"fmspc": SCRIPT}),
        (f"{V4}/tcb", {"fmspc": "00906ED50000", "update": SCRIPT}),
        (f"{V4}/pckcrl", {"ca": SCRIPT}),
        (f"{V4}/pckcert", {"encrypted_ppid": SCRIPT, "cpusvn": SCRIPT, "pcesvn": "0000", "pceid": "0000"}),
    ],
)
def test_simulated_pcs_errors_reflect_nothing(pcs: SimulatedPcs, path: str, params: dict[str, str]) -> None:
    answer = httpx.get(pcs.url + path, params=params)
    assert_safe(answer)
    assert SCRIPT not in answer.headers.get("error-message", "")
