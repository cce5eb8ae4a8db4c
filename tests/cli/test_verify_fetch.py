"""``pydcap verify --pccs/--pcs``, ``pydcap collateral fetch`` and ``pydcap cache``: the cache persists across
processes, a cached platform verifies with the upstream down, an uncached one fails fast with status 3, and
concurrent processes fetch each part once. Upstream: a replay of Intel's PCCS on loopback."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from pydcap.cache import CollateralStore
from pydcap.cli import main
from pydcap.sim import SimulatedIntel
from tests.cache.databases import store_target
from tests.sources.pccs_replay import ReplayPccs
from tests.support.cli import PYDCAP, SGX, TDX, run_pydcap, verify_args
from tests.support.testdata import real_bundle


def test_the_second_verification_asks_nobody_even_from_a_new_process(replay_pccs: ReplayPccs, tmp_path: Path) -> None:
    b = real_bundle(SGX)
    cache = str(tmp_path / "c.sqlite3")
    assert main(verify_args(b, "--pccs", replay_pccs.url, "--cache", cache)) == 0
    assert sorted(replay_pccs.counts.values()) == [1, 1, 1, 1]
    assert main(verify_args(b, "--pccs", replay_pccs.url, "--cache", cache)) == 0
    second = run_pydcap(verify_args(b, "--pccs", replay_pccs.url, "--cache", cache))
    assert second.returncode == 0, second.stderr
    assert "ACCEPTED" in second.stdout
    assert replay_pccs.total() == 4, "the persisted cache answered the new process"


def test_with_the_upstream_down_a_cached_platform_verifies_and_an_uncached_one_fails_fast(
    replay_pccs: ReplayPccs, tmp_path: Path
) -> None:
    cache = str(tmp_path / "c.sqlite3")
    assert main(verify_args(real_bundle(SGX), "--pccs", replay_pccs.url, "--cache", cache)) == 0
    down = ReplayPccs().start()
    dead_url = down.url
    down.stop()

    cached = run_pydcap(verify_args(real_bundle(SGX), "--pccs", dead_url, "--cache", cache))
    assert cached.returncode == 0, cached.stderr

    started = time.monotonic()
    uncached = run_pydcap(verify_args(real_bundle(TDX), "--pccs", dead_url, "--cache", cache))
    elapsed = time.monotonic() - started
    assert uncached.returncode == 3
    assert "collateral unavailable" in uncached.stderr and dead_url in uncached.stderr
    assert "gave no answer" in uncached.stderr and "Traceback" not in uncached.stderr
    assert elapsed < 15, f"failing took {elapsed:.1f} s"


def test_stale_collateral_is_used_when_nothing_fresher_can_be_had_and_said_so(
    replay_pccs: ReplayPccs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = real_bundle(SGX)
    cache = str(tmp_path / "c.sqlite3")
    assert main(verify_args(b, "--pccs", replay_pccs.url, "--cache", cache)) == 0
    capsys.readouterr()
    down = ReplayPccs().start()
    dead_url = down.url
    down.stop()
    later = ["verify", str(b.path / "quote.bin"), "--pccs", dead_url, "--cache", cache, "--at", "2025-08-01T00:00:00Z"]
    assert main([*later, "--accept", b.expected["tcb_status"]]) == 1, "expired collateral is rejected by the policy"
    captured = capsys.readouterr()
    assert "the SGX TCB info for FMSPC 00A067110000 is stale" in captured.err
    assert "EXPIRED" in captured.out
    assert main([*later, "--accept", b.expected["tcb_status"], "--allow-expired"]) == 0


def test_no_cache_fetches_every_time_and_writes_nothing(
    replay_pccs: ReplayPccs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("PYDCAP_CACHE", raising=False)
    b = real_bundle(TDX)
    assert main(verify_args(b, "--pccs", replay_pccs.url, "--no-cache")) == 0
    assert main(verify_args(b, "--pccs", replay_pccs.url, "--no-cache")) == 0
    assert replay_pccs.total() == 8
    assert not (tmp_path / "xdg").exists()
    assert main(verify_args(b, "--pccs", replay_pccs.url)) == 0
    assert (tmp_path / "xdg" / "pydcap" / "collateral.sqlite3").is_file(), "the default store is under XDG"


def test_collateral_from_an_untrusted_upstream_is_exit_status_3(
    replay_pccs: ReplayPccs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other_root = tmp_path / "sim-root.pem"
    other_root.write_bytes(SimulatedIntel(0).root_pem)  # trusting another root makes every Intel document untrusted
    status = main(
        verify_args(
            real_bundle(SGX), "--pccs", replay_pccs.url, "--cache", str(tmp_path / "c.db"), "--root-ca", str(other_root)
        )
    )
    assert status == 3
    assert "refused the root CA CRL" in capsys.readouterr().err


def test_a_store_that_fails_after_opening_is_said_once_and_verification_goes_on(
    replay_pccs: ReplayPccs, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "c.db"
    CollateralStore.open(cache).close()
    with closing(sqlite3.connect(cache)) as db:  # a table that opens but cannot be read or written
        db.executescript("DROP TABLE pydcap_entries; CREATE VIEW pydcap_entries AS SELECT 1 AS kind;")
    # The collateral is fetched, verified and used from memory; each way the store fails (reading, writing) is
    # said once.
    assert main(verify_args(real_bundle(SGX), "--pccs", replay_pccs.url, "--cache", str(cache))) == 0
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and r.name == "pydcap.cache"]
    assert 1 <= len(said) <= 2 and all(f"the cache store {cache} failed" in line for line in said), said
    capsys.readouterr()
    assert main(["cache", "list", "--cache", str(cache)]) == 2  # what is about the store itself fails
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 1 and errors[0].startswith(f"pydcap: error: the cache store {cache} failed"), errors


def test_a_bad_service_url_is_refused_before_any_store_is_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "never" / "c.db"
    args = ["collateral", "fetch", str(real_bundle(SGX).path / "quote.bin"), "-o", str(tmp_path / "out")]
    assert main([*args, "--pccs", "ftp://pccs", "--cache", str(cache)]) == 2
    assert "must be an http:// or https:// URL" in capsys.readouterr().err
    assert not cache.parent.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--collateral", "x", "--pccs", "http://127.0.0.1:9"], "not both"),
        ([], "give --collateral PATH, or a collateral service"),
    ],
)
def test_collateral_options_are_checked(extra: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(verify_args(real_bundle(SGX), *extra)) == 2
    assert message in capsys.readouterr().err


def test_a_quote_from_standard_input_with_fetched_collateral(
    replay_pccs: ReplayPccs, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    b = real_bundle(SGX)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b.quote)))
    args = ["verify", "-", "--pccs", replay_pccs.url, "--no-cache", "--at", str(b.at), "--json"]
    assert main(args) == 1  # verified; rejected only by the default policy (UpToDate only)
    out = json.loads(capsys.readouterr().out)
    assert out["failure"] is None and out["tcb_status"] == b.expected["tcb_status"]


def test_collateral_fetch_writes_the_shared_testdata_layout(
    replay_pccs: ReplayPccs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = real_bundle(TDX)
    out = tmp_path / "out"
    args = [
        "collateral",
        "fetch",
        str(b.path / "quote.bin"),
        "--pccs",
        replay_pccs.url,
        "--cache",
        str(tmp_path / "c.db"),
    ]
    assert main([*args, "--at", b.expected["verify_at"]["iso"], "-o", str(out), "--json"]) == 0
    for f in (b.path / "collateral").iterdir():
        assert (out / f.name).read_bytes() == f.read_bytes(), f.name
    summary = json.loads(capsys.readouterr().out)
    assert summary["fmspc"] == "b0c06f000000" and summary["ca"] == "platform"
    assert {p["origin"] for p in summary["parts"].values()} == {"upstream"}


def test_cache_list_stats_and_clear(
    replay_pccs: ReplayPccs, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    b = real_bundle(SGX)
    cache = str(tmp_path / "c.db")
    assert main(verify_args(b, "--pccs", replay_pccs.url, "--cache", cache)) == 0
    capsys.readouterr()
    at = b.expected["verify_at"]["iso"]
    assert main(["cache", "list", "--cache", cache, "--at", at, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(e["key"] for e in listed["entries"]) == [
        "pck_crl/processor",
        "qe_identity/sgx/standard",
        "root_ca_crl",
        "tcb_info/sgx/00a067110000/standard",
    ]
    assert all(e["fresh"] and e["root"] == "Intel" for e in listed["entries"])
    assert main(["cache", "stats", "--cache", cache, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["entries"] == 4 and stats["counters"] == {"upstream_fetches": 4}
    assert stats["by_kind"]["tcb_info"]["fresh"] == 0, "judged now, Intel's 2025 TCB info has expired"
    assert main(["cache", "list", "--cache", cache]) == 0
    assert "STALE" in capsys.readouterr().out
    assert main(["cache", "clear", "--cache", cache, "--kind", "tcb_info"]) == 2  # no terminal to ask on
    assert "Remove 1 tcb_info entries from" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", _Terminal("n\n"))
    assert main(["cache", "clear", "--cache", cache, "--kind", "tcb_info"]) == 1
    assert "Remove 1 tcb_info entries from" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", _Terminal("y\n"))
    assert main(["cache", "clear", "--cache", cache, "--kind", "tcb_info"]) == 0
    assert "Removed 1 tcb_info entries" in capsys.readouterr().out
    assert main(["cache", "stats", "--cache", cache]) == 0
    assert "Entries  : 3" in capsys.readouterr().out
    assert main(["cache", "clear", "--cache", cache, "--yes"]) == 0
    assert "Removed 3 entries" in capsys.readouterr().out


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("command", ["list", "stats", "clear"])
def test_looking_into_a_cache_that_does_not_exist_creates_none(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo" / "c.db"
    assert main(["cache", command, "--cache", str(missing)]) == 2
    assert f"--cache: no collateral cache at {missing}" in capsys.readouterr().err
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_concurrent_processes_fetch_each_part_once(kind: str, replay_pccs: ReplayPccs, tmp_path: Path) -> None:
    b = real_bundle(TDX)
    replay_pccs.latency = 0.5
    with store_target(kind, tmp_path) as cache:
        procs = [
            subprocess.Popen(
                [*PYDCAP, *verify_args(b, "--pccs", replay_pccs.url, "--cache", cache)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        results = [p.communicate(timeout=60) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0, 0], results
        assert sorted(replay_pccs.counts.values()) == [1, 1, 1, 1], dict(replay_pccs.counts)
        again = run_pydcap(verify_args(b, "--pccs", replay_pccs.url, "--cache", cache))
        assert again.returncode == 0 and replay_pccs.total() == 4


# ---- against the simulated Intel PCS -------------------------------------------------------------------


@pytest.fixture(scope="module")
def _sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    server = pytest.importorskip("pydcap.sim.server", reason="the simulated Intel PCS is not available")
    from pydcap.sim import SimulatedIntel

    intel = SimulatedIntel(seed=7)
    files = tmp_path_factory.mktemp("sim")
    (files / "root.pem").write_bytes(intel.root_pem)
    (files / "sgx.bin").write_bytes(intel.sgx_platform().quote(report_data=b"cli"))
    (files / "tdx.bin").write_bytes(intel.tdx_platform().quote(report_data=b"cli"))
    with server.SimulatedPcs(intel) as pcs:
        yield pcs, files


@pytest.fixture
def sim(_sim: tuple[Any, Path]) -> Iterator[tuple[Any, Path]]:
    pcs, files = _sim
    pcs.faults.clear()
    pcs.reset_stats()
    yield pcs, files
    pcs.faults.clear()


def _sim_verify(pcs: Any, files: Path, quote: str, cache: str) -> list[str]:
    return ["verify", str(files / quote), "--pcs", pcs.url, "--root-ca", str(files / "root.pem"), "--cache", cache]


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_sim_a_new_process_verifies_from_the_persisted_cache(kind: str, sim: tuple[Any, Path], tmp_path: Path) -> None:
    pcs, files = sim
    with store_target(kind, tmp_path) as cache:
        first = run_pydcap(_sim_verify(pcs, files, "sgx.bin", cache))
        assert first.returncode == 0, first.stderr
        assert "WARNING" in first.stderr and "ACCEPTED" in first.stdout, "a foreign root is announced"
        assert pcs.stats()["by_endpoint"] == {
            "sgx/v4/pckcrl": 1,
            "sgx/v4/qe/identity": 1,
            "sgx/v4/rootcacrl": 1,
            "sgx/v4/tcb": 1,
        }
        second = run_pydcap(_sim_verify(pcs, files, "sgx.bin", cache))
        assert second.returncode == 0, second.stderr
        assert pcs.stats()["total"] == 4, "the second process asked nobody"


def test_sim_outage_cached_verifies_uncached_exits_3_fast(sim: tuple[Any, Path], tmp_path: Path) -> None:
    pcs, files = sim
    cache = str(tmp_path / "c.sqlite3")
    assert run_pydcap(_sim_verify(pcs, files, "sgx.bin", cache)).returncode == 0
    pcs.faults.outage(True)
    assert run_pydcap(_sim_verify(pcs, files, "sgx.bin", cache)).returncode == 0
    started = time.monotonic()
    uncached = run_pydcap(_sim_verify(pcs, files, "tdx.bin", cache))
    assert uncached.returncode == 3 and pcs.url in uncached.stderr
    assert time.monotonic() - started < 15


def test_sim_a_process_killed_mid_fetch_leaves_a_store_the_next_one_uses(sim: tuple[Any, Path], tmp_path: Path) -> None:
    pcs, files = sim
    cache = str(tmp_path / "c.sqlite3")
    pcs.faults.latency(30)
    victim = subprocess.Popen([*PYDCAP, *_sim_verify(pcs, files, "tdx.bin", cache)])
    deadline = time.monotonic() + 30
    while pcs.stats()["total"] < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    victim.kill()
    victim.wait()
    pcs.faults.latency(0)
    started = time.monotonic()
    survivor = run_pydcap(_sim_verify(pcs, files, "tdx.bin", cache))
    assert survivor.returncode == 0, survivor.stderr
    assert time.monotonic() - started < 20, "the dead process's leases were taken over, not waited out"
    with CollateralStore.open(cache) as store:
        assert store.integrity_check() == "ok" and len(store.entries()) == 4
