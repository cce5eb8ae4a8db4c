"""PCK certificates Intel PCS lists as "Not available" (not generated yet): a platform without any is refused
as Intel's PCCS refuses it (404) and, in REQ mode, its TCB levels wait in the ``reg_na`` queue; a platform
missing only some gets a certificate selected from the others."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pydcap.pccs import CachingMode
from pydcap.sim import SimulatedIntel, SimulatedSgxPlatform
from pydcap.sim.catalog import RECOVERED_SGX_TCB, SGX_TCB_FOR_STATUS, UP_TO_DATE
from pydcap.sim.server import SimulatedPcs
from tests.cache.databases import store_target
from tests.support.pccs import ADMIN, USER, V4, Factory, client, pckcert_params, registration

TEXT = "text/plain; charset=utf-8"
ROW = ["qe_id", "pce_id", "cpu_svn", "pce_svn", "platform_manifest", "enc_ppid"]  # Intel's order


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with store_target(request.param, tmp_path) as location:
        yield location


def queue(c: httpx.Client, source: str) -> list[dict[str, str]]:
    """``GET platforms?source=``, checked to be shaped as Intel's answer."""
    answer = c.get(f"{V4}/platforms", headers=ADMIN, params={"source": source})
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json; charset=utf-8"
    rows: list[dict[str, str]] = answer.json()
    assert answer.headers["platform-count"] == str(len(rows))
    assert all(list(row) == ROW for row in rows)
    return rows


def not_available_row(platform: SimulatedSgxPlatform, tcbm: str) -> dict[str, str]:
    """The ``reg_na`` row of one TCB level: the level's CPUSVN and PCESVN (little-endian), upper-case hex."""
    return {
        "qe_id": platform.qe_id.hex().upper(),
        "pce_id": platform.pce_id.hex().upper(),
        "cpu_svn": tcbm[:32].upper(),
        "pce_svn": tcbm[32:].upper(),
        "platform_manifest": "",
        "enc_ppid": platform.encrypted_ppid.hex(),
    }


def recovered_platform(intel: SimulatedIntel, name: str) -> SimulatedSgxPlatform:
    """A platform at the newest TCB level (after a TCB recovery), whose certificate Intel has not generated yet."""
    components, pce_svn = RECOVERED_SGX_TCB
    platform = intel.sgx_platform(name=name, cpu_svn=bytes(components), pce_svn=pce_svn)
    intel.withhold_pck_certificates(platform, [RECOVERED_SGX_TCB])
    return platform


def assert_refused(answer: httpx.Response) -> None:
    """Intel's PCCS answer when PCS has no certificate at all: 404, its sentence first (as ``text/plain``, where Intel says ``text/html``)."""
    assert answer.status_code == 404, answer.text
    assert answer.headers["Content-Type"] == TEXT
    assert answer.text.startswith("No cache data for this platform")
    assert "'Not available'" in answer.text
    assert len(answer.headers["Request-ID"]) == 32


@pytest.mark.parametrize("raw", ["at-a-tcb-level", "between-tcb-levels"])
def test_req_registration_without_any_certificate_leaves_every_level_in_reg_na(
    database: str, make_pccs: Factory, intel: SimulatedIntel, pcs: SimulatedPcs, raw: str
) -> None:
    # The queue rows are keyed by raw TCB: one at a TCB level shares its key with that level's reg_na row.
    components, pce_svn = SGX_TCB_FOR_STATUS[UP_TO_DATE]
    cpu_svn = bytes(components) if raw == "at-a-tcb-level" else bytes(c + (i > 7) for i, c in enumerate(components))
    platform = intel.sgx_platform(name=f"req-none-{raw}", cpu_svn=cpu_svn, pce_svn=pce_svn)
    intel.withhold_pck_certificates(platform)
    levels = [tcbm for _, tcbm, _ in intel.pck_certificates(platform)]
    pccs = make_pccs(CachingMode.REQ, database=database)
    with client(pccs) as c:
        refused = c.post(f"{V4}/platforms", json=registration(platform), headers=USER)
        assert_refused(refused)
        assert "source=reg_na" in refused.text
        assert set(pcs.stats()["by_endpoint"]) == {"sgx/v4/pckcerts"}  # refused before any other fetch
        assert c.get(f"{V4}/pckcert", params=pckcert_params(platform, with_ppid=False)).status_code == 461
        assert queue(c, "reg") == []
        waiting = queue(c, "reg_na")
        assert sorted(waiting, key=str) == sorted((not_available_row(platform, t) for t in levels), key=str)
        assert queue(c, "reg_na") == []  # read once, as Intel's admin tool takes it
        # Intel has generated the certificates: registering again caches them.
        intel.release_pck_certificates(platform)
        assert c.post(f"{V4}/platforms", json=registration(platform), headers=USER).status_code == 200
        served = c.get(f"{V4}/pckcert", params=pckcert_params(platform, with_ppid=False))
        assert served.status_code == 200 and served.content == platform.pck.pem
        assert queue(c, "reg") == queue(c, "reg_na") == []


def test_req_selects_from_the_levels_with_certificates_and_queues_the_others(
    database: str, make_pccs: Factory, intel: SimulatedIntel, pcs: SimulatedPcs
) -> None:
    platform = recovered_platform(intel, "req-some")
    (_, top, _), (_, below, below_pem), *_ = intel.pck_certificates(platform)
    assert top == platform.pck.tcbm and below_pem is not None
    pccs = make_pccs(CachingMode.REQ, database=database)
    with client(pccs) as c:
        assert c.post(f"{V4}/platforms", json=registration(platform), headers=USER).status_code == 200
        served = c.get(f"{V4}/pckcert", params=pckcert_params(platform, with_ppid=False))
        assert served.status_code == 200, served.text
        assert served.headers["Content-Type"] == "application/x-pem-file; charset=utf-8"
        assert served.headers["SGX-TCBm"] == below and served.content == below_pem
        assert served.headers["SGX-FMSPC"] == platform.fmspc.hex().upper()
        assert served.headers["SGX-PCK-Certificate-CA-Type"] == "PROCESSOR"
        # The level without a certificate waits in reg_na; the registration itself is done.
        assert queue(c, "reg") == []
        assert queue(c, "reg_na") == [not_available_row(platform, top)]
        # Intel generated it; an admin refreshes the certificates: the raw TCB now selects its own level.
        intel.release_pck_certificates(platform)
        assert c.get(f"{V4}/refresh", params={"type": "certs"}, headers=ADMIN).status_code == 200
        again = c.get(f"{V4}/pckcert", params=pckcert_params(platform, with_ppid=False))
        assert again.headers["SGX-TCBm"] == top and again.content == platform.pck.pem
        assert queue(c, "reg_na") == []
    assert pcs.stats()["by_endpoint"]["sgx/v4/pckcerts"] == 2


def test_lazy_refuses_a_platform_without_any_certificate_and_queues_nothing(
    make_pccs: Factory, intel: SimulatedIntel, pcs: SimulatedPcs
) -> None:
    platform = intel.sgx_platform(name="lazy-none")
    intel.withhold_pck_certificates(platform)
    pccs = make_pccs(CachingMode.LAZY)
    with client(pccs) as c:
        for _ in range(2):
            refused = c.get(f"{V4}/pckcert", params=pckcert_params(platform))
            assert_refused(refused)
            assert "reg_na" not in refused.text
        assert pcs.stats()["by_endpoint"] == {"sgx/v4/pckcerts": 2}  # nothing cached: PCS is asked again
        assert queue(c, "reg") == queue(c, "reg_na") == []
        intel.release_pck_certificates(platform)
        served = c.get(f"{V4}/pckcert", params=pckcert_params(platform))
        assert served.status_code == 200 and served.content == platform.pck.pem


def test_lazy_selects_from_the_levels_with_certificates(make_pccs: Factory, intel: SimulatedIntel) -> None:
    platform = recovered_platform(intel, "lazy-some")
    (_, _, _), (_, below, below_pem), *_ = intel.pck_certificates(platform)
    pccs = make_pccs(CachingMode.LAZY)
    with client(pccs) as c:
        served = c.get(f"{V4}/pckcert", params=pckcert_params(platform))
        assert served.status_code == 200, served.text
        assert served.headers["SGX-TCBm"] == below and served.content == below_pem
        assert queue(c, "reg_na") == []  # LAZY mode keeps no queue
