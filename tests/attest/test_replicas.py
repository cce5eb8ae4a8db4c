"""Two replicas of the service on one PostgreSQL: they share signing keys (a key rotated on one is published by
the other at once, and signs there within a second), policies, and collateral (fetched from upstream once)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from pydcap.attest import AttestationType, AttestServer
from pydcap.sim import SimulatedIntel
from pydcap.sim.server import SimulatedPcs
from tests.cache.databases import postgres_schema
from tests.support.attest import API, attest_config, client

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, pcs: SimulatedPcs, root_file: Path
) -> Iterator[tuple[AttestServer, AttestServer]]:
    with postgres_schema() as url:
        servers = []
        for name in ("a", "b"):
            directory = tmp_path_factory.mktemp(f"replica-{name}")
            config = attest_config(directory, pcs, root_file, database=url, issuer="https://attest.example")
            servers.append(AttestServer(config).start())
        try:
            yield servers[0], servers[1]
        finally:
            for server in servers:
                server.stop()
                server.app.service.store.close()


def kids(server: AttestServer) -> set[str]:
    with client(server) as http:
        return {key["kid"] for key in http.get("/certs").json()["keys"]}


def test_keys_are_shared_and_rotation_is_seen_by_the_other(replicas: tuple[AttestServer, AttestServer]) -> None:
    a, b = replicas
    assert kids(a) == kids(b) and len(kids(a)) == 1
    new = a.app.service.rotate("")
    assert new.kid in kids(b) and len(kids(b)) == 2  # the old key stays published until its tokens expire
    deadline = time.monotonic() + 5
    while b.app.service.tenant("").keys.current().kid != new.kid:
        assert time.monotonic() < deadline, "replica b never signed with the rotated key"
        time.sleep(0.1)


def test_collateral_is_fetched_once(
    replicas: tuple[AttestServer, AttestServer], intel: SimulatedIntel, pcs: SimulatedPcs
) -> None:
    a, b = replicas
    quote = base64.urlsafe_b64encode(
        intel.sgx_platform(name="replica-platform", fmspc="00A06F000000").quote(b"")
    ).decode()
    pcs.reset_stats()
    tokens = []
    for server in (a, b, a, b):
        with client(server) as http:
            response = http.post("/attest/SgxEnclave", params=API, json={"quote": quote})
        assert response.status_code == 200, response.text
        tokens.append(response.json()["token"])
    by_endpoint = pcs.stats()["by_endpoint"]
    assert by_endpoint and all(count == 1 for count in by_endpoint.values()), by_endpoint
    assert {jwt.decode(t, options={"verify_signature": False})["iss"] for t in tokens} == {"https://attest.example"}


def test_policy_set_on_one_is_enforced_by_the_other(
    replicas: tuple[AttestServer, AttestServer], intel: SimulatedIntel
) -> None:
    a, b = replicas
    document = jwt.encode(
        {"AttestationPolicy": base64.urlsafe_b64encode(b'{"product_id": 77}').rstrip(b"=").decode()},
        "",
        algorithm="none",
    )
    a.app.service.set_policy("", AttestationType.SGX_ENCLAVE, document)
    quote = base64.urlsafe_b64encode(intel.sgx_platform().quote(b"")).decode()
    try:
        deadline = time.monotonic() + 5
        while True:
            with client(b) as http:
                response = http.post("/attest/SgxEnclave", params=API, json={"quote": quote})
            if response.status_code == 400:
                assert response.json()["error"]["code"] == "PolicyEvaluationError"
                break
            assert time.monotonic() < deadline, "replica b never enforced the policy set on a"
            time.sleep(0.2)
    finally:
        a.app.service.reset_policy("", AttestationType.SGX_ENCLAVE, jwt.encode({}, "", algorithm="none"))
