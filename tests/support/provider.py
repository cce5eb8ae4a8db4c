"""What the provider tests share besides fixtures: plugin builds and installs, served documents, platform ids, the
loopback PCCS the QCNL provider is pointed at, a clock, and a QCNL provider on it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from pydcap.collateral import Collateral
from pydcap.pki import CertificateChain, PckCertificate, TrustRoot
from pydcap.provider.interface import PlatformId, fmspc_and_ca
from pydcap.provider.qcnl.config import QcnlConfig, parse_qcnl_config
from pydcap.provider.qcnl.provider import QcnlProvider
from pydcap.provider.trust import UntrustedRootWarning
from pydcap.quote import Quote
from pydcap.sim import SimulatedPlatform
from tests.provider.pccs_server import PccsData
from tests.support.testdata import Bundle, real_bundle

SOURCE = Path(__file__).parents[1] / "provider" / "fake_quoteprov.c"


VARIANTS = {
    "intel": [],
    "azure": ["-DAZURE_FLAVOR", "-DNO_TDX", "-DNO_GLOBAL_INIT"],
    "broken": ["-DBROKEN"],
    "unpaired": ["-DNO_TDX_FREE"],
}


SGX_BUNDLE = "phala-sgx-v3"


TDX_BUNDLE = "phala-tdx-v4"


def build_plugins(out: Path) -> dict[str, Path]:
    """Compile every variant of the test plugin into ``out`` (skipped without gcc unless CI is set)."""
    gcc = shutil.which("gcc")
    if gcc is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but gcc is missing: the native provider tests need it")
        pytest.skip("gcc not found: cannot build the test quote provider library")
    built = {}
    for name, flags in VARIANTS.items():
        target = out / f"{name}.so"
        subprocess.run(
            [gcc, "-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-Werror", *flags, "-o", str(target), str(SOURCE)],
            check=True,
            capture_output=True,
        )
        built[name] = target
    return built


@dataclass(frozen=True)
class Served:
    """What the test plugin serves, and what a provider must hand back."""

    directory: Path
    sgx: Bundle
    tdx: Bundle
    pck_chain: bytes
    tcbm: str
    pck: PckCertificate

    def expected(self, which: Bundle) -> Collateral:
        return Collateral.load(which.path)


def write_served(directory: Path, crl_encoding: str = "der") -> Served:
    """Lay out the plugin's files: SGX and TDX collateral with CRLs as ``der``, ``hex`` or ``pem``."""
    sgx, tdx = real_bundle(SGX_BUNDLE), real_bundle(TDX_BUNDLE)
    for tee, b in (("sgx", sgx), ("tdx", tdx)):
        d = directory / tee
        d.mkdir(parents=True, exist_ok=True)
        fmspc, ca, _ = fmspc_and_ca(b.quote)
        (d / "fmspc.hex").write_text(fmspc.hex())
        (d / "ca.txt").write_text(ca)
        collateral = Collateral.load(b.path)
        for part in ("pck_crl", "root_ca_crl"):
            (d / part).write_bytes(_encode_crl(getattr(collateral, part), crl_encoding))
        (d / "pck_crl_issuer_chain.pem").write_bytes(collateral.pck_crl_issuer_chain)
        (d / "tcb_info.json").write_bytes(collateral.tcb_info.to_bytes())
        (d / "tcb_info_issuer_chain.pem").write_bytes(collateral.tcb_info_issuer_chain)
        (d / "qe_identity.json").write_bytes(collateral.qe_identity.to_bytes())
        (d / "qe_identity_issuer_chain.pem").write_bytes(collateral.qe_identity_issuer_chain)
    quoted = Quote.parse(sgx.quote).pck_chain_pem
    assert quoted is not None
    pem = quoted.rstrip(b"\x00")  # the quote's certification data ends in a NUL
    leaf = CertificateChain.parse(pem).find("SGX PCK Certificate")
    assert leaf is not None
    pck = PckCertificate.from_certificate(leaf)
    tcbm = (pck.sgx.tcb.cpu_svn + pck.sgx.tcb.pce_svn.to_bytes(2, "little")).hex()
    (directory / "pck_chain.pem").write_bytes(pem)
    (directory / "tcbm.hex").write_text(tcbm)
    sgx_collateral = Collateral.load(sgx.path)
    (directory / "qve_identity.json").write_bytes(sgx_collateral.qe_identity.to_bytes())
    (directory / "qve_identity_issuer_chain.pem").write_bytes(sgx_collateral.qe_identity_issuer_chain)
    return Served(directory, sgx, tdx, pem, tcbm, pck)


def _encode_crl(der: bytes, encoding: str) -> bytes:
    if encoding == "der":
        return der
    if encoding == "hex":
        return der.hex().encode()
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.load_der_x509_crl(der).public_bytes(Encoding.PEM)


def install(plugin: Path, root: Path, documented: str) -> Path:
    """Copy ``plugin`` to ``documented`` (an absolute path on the target system) under ``root``."""
    target = root / documented.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(plugin, target)
    return target


def platform_id(p: SimulatedPlatform) -> PlatformId:
    """A simulated platform as a quote provider is asked about it (the PCE-ID's two bytes are little-endian)."""
    return PlatformId(p.qe_id, p.cpu_svn, p.pce_svn, int.from_bytes(p.pce_id, "little"), p.encrypted_ppid)


QE_ID = bytes(range(16))


PLATFORM = PlatformId(qe_id=QE_ID, cpu_svn=bytes(16), pce_svn=13, pce_id=0)


@dataclass
class QcnlPccs:
    """The loopback PCCS the QCNL tests point a provider at (fixture ``qcnl_pccs``): its URL and what it serves."""

    url: str
    data: PccsData

    def config(self, **settings: object) -> QcnlConfig:
        return parse_qcnl_config(json.dumps({"pccs_url": self.url, **settings}))

    def paths(self) -> list[str]:
        return [path for path, _ in self.data.requests]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def provider(config: QcnlConfig, clock: Clock | None = None, trust: TrustRoot | None = None) -> QcnlProvider:
    """A QCNL provider on ``clock``, trusting Intel's root or ``trust`` (which it must announce)."""
    c = clock or Clock()
    if trust is None or trust.is_intel:
        return QcnlProvider(config, trust=trust, sleep=c.sleep, clock=c.time, timeout=5.0)
    with pytest.warns(UntrustedRootWarning, match="intel-qcnl provider trusts a root other than Intel's"):
        return QcnlProvider(config, trust=trust, sleep=c.sleep, clock=c.time, timeout=5.0)
