"""The demonstration behind ``pydcap demo``: the whole DCAP system on one machine, no hardware, no network.

A simulated Intel PCS and a pydcap PCCS run on loopback; the bundled quote provider is pointed at the PCCS;
a simulated SGX enclave and a simulated TDX guest attest with ``AttestationParameters.DCAP()``. Round 1 is a
newly installed machine (machine certificates and collateral are forwarded to "Intel" once and persisted);
round 2 attests again and must be served entirely from the caches (Intel's request counter unchanged).
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import ssl
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from pydcap.attest import AttestConfig, AttestServer, verify_token
from pydcap.host import AttestationParameters, EnclaveHost
from pydcap.pccs import PccsConfig, PccsServer
from pydcap.provider import select_provider
from pydcap.provider.bundled import BundledProvider
from pydcap.provider.trust import UntrustedRootWarning
from pydcap.sim import SimulatedIntel, default_seed
from pydcap.sim.enclave import SimulatedEnclave, SimulatedQuoteSource
from pydcap.sim.server import SimulatedPcs
from pydcap.verify import Verifier


def demo_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pydcap" / "demo"


@dataclass
class Step:
    round: int
    name: str
    what: str
    seconds: float
    upstream_requests: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "step": self.name,
            "what": self.what,
            "ms": round(self.seconds * 1000, 1),
            "upstream_requests": self.upstream_requests,
        }


@dataclass
class Round:
    number: int
    upstream_requests: int = 0
    verdicts: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"round": self.number, "upstream_requests": self.upstream_requests, "verdicts": self.verdicts}


@dataclass
class DemoReport:
    directory: Path
    pcs_url: str = ""
    pccs_url: str = ""
    provider_reason: str = ""
    steps: list[Step] = field(default_factory=list)
    rounds: list[Round] = field(default_factory=list)
    attestation: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        verified = all(v["failure"] is None and v["accepted"] for r in self.rounds for v in r.verdicts)
        cached = (
            len(self.rounds) == 2 and self.rounds[0].upstream_requests > 0 and self.rounds[1].upstream_requests == 0
        )
        return verified and cached and bool(self.attestation)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "directory": str(self.directory),
            "simulated_intel": self.pcs_url,
            "pccs": self.pccs_url,
            "provider": {"selected": "bundled", "default_selection": self.provider_reason},
            "rounds": [r.to_dict() for r in self.rounds],
            "attestation_service": self.attestation,
            "steps": [s.to_dict() for s in self.steps],
        }


@contextmanager
def _quiet(logger: str) -> Iterator[None]:
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


@contextmanager
def _step(
    report: DemoReport, pcs: SimulatedPcs, progress: Callable[[str], None], number: int, name: str
) -> Iterator[Step]:
    """Time one step and count the requests the simulated Intel received meanwhile."""
    progress(f"round {number}: {name.strip()}")
    step = Step(number, name, "", 0.0, 0)
    counted = pcs.stats()["total"]
    start = time.perf_counter()
    yield step
    step.seconds = time.perf_counter() - start
    step.upstream_requests = pcs.stats()["total"] - counted
    report.steps.append(step)


def run_demo(progress: Callable[[str], None] = lambda _: None, directory: Path | None = None) -> DemoReport:
    """Run both rounds; ``progress`` is told what is happening. The demo's state starts empty each run."""
    state = directory or demo_dir()
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    report = DemoReport(state)
    with ExitStack() as stack:
        progress("starting the simulated Intel PCS")
        intel = SimulatedIntel(seed=default_seed())
        pcs = stack.enter_context(SimulatedPcs(intel))
        root = state / "simulated-intel-root.pem"
        root.write_bytes(intel.root_pem)
        report.pcs_url = pcs.url

        progress("starting the pydcap PCCS (SQLite, HTTPS)")
        config = PccsConfig(
            port=0,
            upstream=pcs.url,
            database=str(state / "pccs.sqlite3"),
            root_ca=str(root),
            state_dir=str(state / "pccs"),
        )
        pccs = stack.enter_context(PccsServer.create(config))
        report.pccs_url = pccs.url
        assert pccs.tls is not None  # HTTPS: the provider pins the PCCS's self-signed certificate
        # The bundled provider is configured as a user would, by its environment variables, handed to it here
        # (the process's own environment is left alone).
        env = {
            **os.environ,
            "PYDCAP_COLLATERAL_SERVICE": "pccs",
            "PYDCAP_COLLATERAL_URL": f"{pccs.url}/sgx/certification/v4/",
            "PYDCAP_COLLATERAL_VERIFY_TLS": str(pccs.tls.cert),
            "PYDCAP_CACHE": str(state / "provider.sqlite3"),
            "PYDCAP_TRUSTED_ROOT": str(root),
        }
        report.provider_reason = select_provider(env=env).reason
        sgx = SimulatedQuoteSource(intel.sgx_platform(), SimulatedEnclave(name="pydcap.demo.Enclave"))
        tdx = SimulatedQuoteSource(intel.tdx_platform(), SimulatedEnclave(name="pydcap.demo.TD"))
        verifier = Verifier(trusted_root=intel.trust_root)

        for number in (1, 2):
            rnd = Round(number)
            report.rounds.append(rnd)
            before = pcs.stats()["total"]
            # A new provider each round, as a new process would have: only the persistent caches carry over.
            # Its warning about the simulated root is expected here (the report says so once).
            with warnings.catch_warnings(), _quiet("pydcap"):
                warnings.simplefilter("ignore", UntrustedRootWarning)
                provider = BundledProvider(env=env)
            with provider:
                for label, source in (("SGX enclave", sgx), ("TDX guest  ", tdx)):
                    with _step(report, pcs, progress, number, f"{label} machine certificate") as step:
                        provider.pck_cert_chain(source.platform.platform_id)
                        step.what = "PCK certificate"
                    with _step(report, pcs, progress, number, f"{label} start (DCAP)") as step:
                        host = EnclaveHost(source)
                        info = host.start(AttestationParameters.DCAP(provider), report_data=b"pydcap demo")
                        step.what = f"quote v{info.parsed.version} + collateral"
                    with _step(report, pcs, progress, number, f"{label} verify") as step:
                        result = verifier.verify(info.quote, info.collateral)
                        step.what = f"{result.qv_result.value}, {'accepted' if result.accepted else 'rejected'}"
                    rnd.verdicts.append(result.to_dict())
            if number == 2:
                _attest(report, pcs, progress, stack, state, root, sgx)
            rnd.upstream_requests = pcs.stats()["total"] - before
    return report


def _attest(
    report: DemoReport,
    pcs: SimulatedPcs,
    progress: Callable[[str], None],
    stack: ExitStack,
    state: Path,
    root: Path,
    source: SimulatedQuoteSource,
) -> None:
    """One attestation through ``pydcap attest serve``'s API (HTTPS), on the PCCS's own store: its collateral is
    already there, so Intel is not asked; the token is then checked as a relying party would."""
    progress("starting the pydcap attestation service (MAA API, same store as the PCCS)")
    config = AttestConfig(
        port=0, upstream=pcs.url, database=str(state / "pccs.sqlite3"), root_ca=str(root),
        state_dir=str(state / "attest"),
    )  # fmt: skip
    service = stack.enter_context(AttestServer(config))
    assert service.tls is not None
    with _step(report, pcs, progress, 2, "SGX enclave attestation token") as step:
        quote = base64.urlsafe_b64encode(source.get_quote(b"pydcap demo")).rstrip(b"=").decode()
        with httpx.Client(verify=ssl.create_default_context(cafile=service.tls.cert), timeout=30) as http:
            answer = http.post(
                f"{service.url}/attest/SgxEnclave", params={"api-version": "2022-08-01"}, json={"quote": quote}
            )
        answer.raise_for_status()
        claims = verify_token(answer.json()["token"], service.issuer, ca_cert=str(service.tls.cert))
        step.what = f"token verified: MRENCLAVE {claims['x-ms-sgx-mrenclave'][:12]}..., {claims['x-pydcap-tcb-status']}"
    report.attestation = {"issuer": service.issuer, "claims": claims}
