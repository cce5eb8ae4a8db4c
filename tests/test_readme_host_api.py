"""The README's host API snippet, run as written on a machine without SGX or TDX: after ``pydcap sim serve`` and
``eval "$(pydcap sim env)"`` it ends in ``accepted``; without them it stops with one line saying what to run, never
a traceback; and ``EnclaveHost.start()`` refuses a quote certified under another root than its collateral's."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pydcap.host import AttestationParameters, EnclaveHost, HostError
from pydcap.provider.bundled import BundledProvider
from pydcap.sim import SimulatedIntel
from pydcap.sim.enclave import SimulatedQuoteSource
from pydcap.sim.server import SimulatedPcs
from tests.support.testdata import ROOT

PYDCAP = [sys.executable, "-m", "pydcap"]


def readme_block(language: str, containing: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.DOTALL)
    found = [b for b in blocks if containing in b]
    assert len(found) == 1, f"README.md has {len(found)} {language} blocks with {containing!r}"
    return found[0]


def clean_env(tmp_path: Path) -> dict[str, str]:
    """A user's shell on a machine without hardware: no pydcap variables, caches of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYDCAP_", "AZDCAP_", "QCNL_"))}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), PYDCAP_SYSROOT=str(tmp_path / "no-hardware"))
    return env


@pytest.fixture
def sim_serve(tmp_path: Path) -> Iterator[str]:
    """``pydcap sim serve`` as the README starts it (on a free port instead of 8082), default seed."""
    process = subprocess.Popen(
        [*PYDCAP, "sim", "serve", "--port", "0"], env=clean_env(tmp_path), stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=15)


def run_snippet(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "host_api.py"
    script.write_text(readme_block("python", "EnclaveHost("))
    return subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_snippet_ends_in_accepted_with_a_simulated_intel(sim_serve: str, tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    setup = readme_block("sh", "pydcap sim env")  # what the README has the user run first (here on a free port)
    assert "pydcap sim serve --port" in setup and 'eval "$(pydcap sim env --url http://127.0.0.1:' in setup
    exported = subprocess.run(
        [*PYDCAP, "sim", "env", "--url", sim_serve], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert exported.stderr == ""  # the server answers, with the default seed's root
    for line in exported.stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = shlex.split(value)[0]
    done = run_snippet(tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "accepted"


def test_without_a_simulated_intel_one_line_says_what_to_run(tmp_path: Path) -> None:
    done = run_snippet(tmp_path, clean_env(tmp_path))
    assert done.returncode == 1 and done.stdout == ""
    assert "Traceback" not in done.stderr
    *announced, error = done.stderr.strip().splitlines()
    assert all("SIMULATED platform" in line for line in announced)  # the host's warning, at most
    assert error.startswith("error: without SGX or TDX hardware the simulated platform (seed 0) needs a simulated")
    assert "'pydcap sim serve &'" in error and 'eval "$(pydcap sim env)"' in error


def test_start_refuses_a_quote_under_another_root_than_its_collateral(
    tmp_path: Path,
) -> None:
    """The provider serves collateral of one simulated Intel, the platform was certified by another: a client
    would reject the enclave, so the host says so first (checked on the collateral itself, not only the root)."""
    ours, theirs = SimulatedIntel(21), SimulatedIntel(22)
    root = tmp_path / "root.pem"
    root.write_bytes(ours.root_pem)
    env = {"PYDCAP_COLLATERAL_SERVICE": "pcs", "PYDCAP_TRUSTED_ROOT": str(root), "PYDCAP_CACHE": str(tmp_path / "c.db")}
    with SimulatedPcs(ours) as pcs:
        with pytest.warns(UserWarning, match="trusts a root other than Intel's"):
            provider = BundledProvider(env={**env, "PYDCAP_COLLATERAL_URL": pcs.url})
        with provider:
            host = EnclaveHost(SimulatedQuoteSource(theirs.sgx_platform()))
            with pytest.raises(HostError, match=r"ends in .* but the bundled quote provider's collateral is under"):
                host.start(AttestationParameters.DCAP(provider))
            assert pcs.stats()["total"] == 0  # refused before anything was asked
            provider.trust = None  # a provider that cannot say its root: the collateral's own chain tells
            with pytest.raises(HostError, match="no client would accept this quote"):
                host.start(AttestationParameters.DCAP(provider))
            good = EnclaveHost(SimulatedQuoteSource(ours.sgx_platform())).start(AttestationParameters.DCAP(provider))
            assert good.provider == "bundled"
