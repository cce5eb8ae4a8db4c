"""The PCCS against hostile clients on loopback (issue 12, findings 2, 3 and 10): slow request heads past the
header timeout and past its file limit, a 64 MB header, 10,000 headers and encoded slashes; an ordinary client
is answered all along. Intel's configuration keys set the limits. And an admin refresh against a slow upstream
is answered within its bound."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from pydcap.sim import SimulatedIntel
from pydcap.sim.server import SimulatedPcs
from tests.serving.hostile import HEAD, Bystander, SlowClients, headers_of, send_and_read, status_of
from tests.support.pccs import ADMIN, V4, Factory, client, serving


def test_slow_clients_past_the_file_limit_do_not_take_the_pccs_offline(tmp_path: Path) -> None:
    # 300 connections sending a header byte every 0.2 s, against a PCCS allowed 200 open files: the per-client
    # limit (100) refuses most at once, the header timeout (Intel's key) closes the rest, others are answered.
    config = tmp_path / "default.json"
    config.write_text(
        json.dumps({"HeadersTimeoutSeconds": 1, "RequestTimeoutSeconds": 2, "KeepAliveTimeoutSeconds": 5})
    )
    args = ["--config", str(config), "--mode", "OFFLINE", "--insecure-http"]
    with serving(args, tmp_path, open_files=200) as (process, port, lines):
        slow = SlowClients(port, count=300, interval=0.2)
        with Bystander(f"http://127.0.0.1:{port}/healthz").asking() as others:
            slow.run(seconds=8.0)
        assert process.poll() is None, "".join(lines)
    assert slow.still_open == 0
    statuses = [status_of(a) for a in slow.answers]
    assert statuses.count(503) >= 150 and statuses.count(408) >= 50, statuses
    assert others.answered > 10 and not others.failed, others.failed[:3]


def test_oversized_heads_are_refused_and_others_answered(make_pccs: Factory, intel: SimulatedIntel) -> None:
    pccs = make_pccs()
    health = f"{pccs.url}/healthz"
    with Bystander(health).asking() as others:
        big = send_and_read(pccs.port, HEAD + b"X-Big: " + b"a" * (64 << 20) + b"\r\n\r\n")
        many = send_and_read(pccs.port, HEAD + b"".join(b"X-%d: 1\r\n" % i for i in range(10_000)) + b"\r\n")
    assert status_of(big) == 431 and status_of(many) == 431
    assert headers_of(big)["x-content-type-options"] == "nosniff"
    assert others.answered > 0 and not others.failed


def test_encoded_slashes_never_reach_an_endpoint(make_pccs: Factory) -> None:
    pccs = make_pccs()
    for path in (f"{V4}%2Frefresh", "/sgx/certification/v4/platforms%2f", "/sgx%2Fcertification%2Fv4%2Fpckcrl"):
        answer = send_and_read(pccs.port, f"GET {path}?ca=processor HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert status_of(answer) == 400, answer


def test_intel_keys_set_the_limits(tmp_path: Path) -> None:
    from pydcap.pccs import load_config

    path = tmp_path / "default.json"
    path.write_text(json.dumps({
        "HeadersTimeoutSeconds": 10, "RequestTimeoutSeconds": 15, "KeepAliveTimeoutSeconds": 60,
        "MaxRequestBodySize": 2097152, "MaxConnections": 500, "MaxConnectionsPerClient": 0, "MaxHeaderSize": 8192,
    }))  # fmt: skip
    limits = load_config(path, environ={}).limits
    assert (limits.header_timeout, limits.request_timeout, limits.keep_alive_timeout) == (10, 15, 60)
    assert (limits.max_body_bytes, limits.max_connections, limits.max_connections_per_client) == (2097152, 500, 0)
    assert limits.max_header_bytes == 8192


def test_an_admin_refresh_against_a_slow_upstream_answers_within_its_bound(
    make_pccs: Factory, intel: SimulatedIntel, pcs: SimulatedPcs
) -> None:
    pccs = make_pccs()
    pccs.app.refresh_answer_within = 1.0
    with client(pccs) as c:
        assert c.get(f"{V4}/tcb", params={"fmspc": intel.sgx_platform().fmspc.hex()}).status_code == 200
        assert c.get(f"{V4}/refresh", headers=ADMIN).status_code == 200  # a quick one is answered as it ended
        pcs.faults.latency(1.5)  # every upstream answer comes late: the refresh takes several seconds
        answer = c.get(f"{V4}/refresh", headers=ADMIN, timeout=8)
        assert answer.status_code == 202, answer.text
        assert "continues in the background" in answer.text
        joined = c.get(f"{V4}/refresh", headers=ADMIN, timeout=8)  # joins the one running: not a second refresh
        assert joined.status_code == 202
        pcs.faults.clear()
        deadline = time.monotonic() + 30
        while manual_refreshes(c.get("/metrics").text) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert manual_refreshes(c.get("/metrics").text) == 2, "the background refresh never ended (or ran twice)"


def manual_refreshes(metrics: str) -> int:
    return sum(int(n) for n in re.findall(r'refreshes_total\{outcome="manual_\w+"\} (\d+)', metrics))
