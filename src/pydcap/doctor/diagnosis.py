"""``pydcap doctor``'s findings: the facts about this machine, its provider and configuration, each judged
as ok, info, warning or error with a sentence that says what to do.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydcap.doctor.machine import AESM_SOCKET, MachineFacts, inspect_machine
from pydcap.doctor.probe import ServiceProbe, probe_service
from pydcap.provider.azure.config import PREFIX as AZURE_PREFIX
from pydcap.provider.azure.config import AzureConfig
from pydcap.provider.bundled_config import API_KEY_ENV, MISSING_API_KEY, VERIFY_TLS_ENV, BundledConfig
from pydcap.provider.discovery import ProviderChoice, describe_plugin, select_provider, system_root
from pydcap.provider.errors import ProviderConfigError, ProviderSelectionError
from pydcap.provider.qcnl.config import QcnlConfig, config_path, load_qcnl_config
from pydcap.provider.trust import TRUSTED_ROOT_ENV, load_trusted_root

Level = Literal["ok", "info", "warning", "error"]
Configuration = Literal["intel-qcnl", "azure", "bundled"]


@dataclass(frozen=True)
class Finding:
    level: Level
    topic: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"level": self.level, "topic": self.topic, "message": self.message}


@dataclass
class DoctorReport:
    sysroot: str
    machine: MachineFacts
    choice: ProviderChoice | None
    qcnl: QcnlConfig | None
    azure: AzureConfig | None
    service: ServiceProbe | None
    bundled: BundledConfig | None = None
    findings: list[Finding] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return not any(f.level == "error" for f in self.findings)

    @property
    def can_quote(self) -> bool:
        m = self.machine
        return (m.sgx_driver is not None and m.sgx_provisioning) or m.tdx_guest_available

    def add(self, level: Level, topic: str, message: str) -> None:
        self.findings.append(Finding(level, topic, message))

    def to_dict(self) -> dict[str, Any]:
        provider: dict[str, Any] = self.choice.to_dict() if self.choice else {"error": self.errors.get("provider")}
        return {
            "healthy": self.healthy,
            "can_quote": self.can_quote,
            "sysroot": self.sysroot,
            "machine": self.machine.to_dict(),
            "provider": provider,
            "qcnl": self.qcnl.to_dict() if self.qcnl else {"error": self.errors.get("qcnl")},
            "azure": self.azure.to_dict() if self.azure else {"error": self.errors.get("azure")},
            "bundled": self.bundled.to_dict() if self.bundled else {"error": self.errors.get("bundled")},
            "collateral_service": self.service.to_dict() if self.service else {"checked": False},
            "findings": [f.to_dict() for f in self.findings],
        }


def examine(
    *,
    provider: str | None = None,
    origin: str = "--provider",
    env: Mapping[str, str] | None = None,
    network: bool = True,
    service_url: str | None = None,
    timeout: float = 3.0,
    ca_cert: str | None = None,
) -> DoctorReport:
    """Look at everything ``pydcap doctor`` reports. Only the service probe touches the network; ``ca_cert`` (a
    PEM file) is what it trusts for the service's TLS certificate instead of what the configuration says."""
    e = os.environ if env is None else env
    root = system_root(e)
    report = DoctorReport(str(root), inspect_machine(root), None, None, None, None)
    _judge_sgx(report)
    _judge_tdx(report)
    _judge_container(report)
    _judge_aesm(report)
    try:
        report.choice = select_provider(provider, origin=origin, env=e, root=root)
    except ProviderSelectionError as exc:
        report.errors["provider"] = str(exc)
        report.add("error", "provider", str(exc))
    _judge_provider(report)
    reads = _configuration_read(report.choice)
    _judge_qcnl(report, e, reads == "intel-qcnl")
    _judge_azure(report, e, reads == "azure", ours=report.choice is not None and report.choice.kind == "azure")
    _judge_bundled(report, e, reads == "bundled")
    _probe(report, network=network, service_url=service_url, timeout=timeout, reads=reads, ca_cert=ca_cert)
    return report


def _configuration_read(choice: ProviderChoice | None) -> Configuration | None:
    """Which configuration the chosen provider reads: the QCNL file (pydcap's QCNL provider or an Intel
    plugin), ``AZDCAP_*`` (pydcap's Azure provider or Azure's plugin), or the bundled provider's settings."""
    if choice is None:
        return None
    if choice.kind != "native":
        return choice.kind
    if choice.path is None:
        return None
    flavor = (choice.selected_candidate or describe_plugin(Path(choice.path))).flavor
    return "intel-qcnl" if flavor == "intel" else "azure" if flavor == "azure" else None


def _judge_sgx(r: DoctorReport) -> None:
    m = r.machine
    if m.sgx_driver == "in-kernel":
        if m.sgx_provision.present:
            r.add("ok", "sgx", "SGX in-kernel driver: /dev/sgx_enclave and /dev/sgx_provision are present")
        else:
            r.add(
                "warning",
                "sgx",
                "/dev/sgx_enclave is present but /dev/sgx_provision is not: the quoting enclave cannot obtain its "
                "provisioning key, so DCAP quotes cannot be made (expose /dev/sgx_provision to this user, "
                "usually through the sgx_prv group)",
            )
    elif m.sgx_driver == "legacy":
        extra = "" if m.legacy_provision.present else "; /dev/sgx/provision is missing, so quotes cannot be made"
        r.add(
            "warning",
            "sgx",
            "legacy out-of-tree SGX driver (/dev/sgx/enclave): Intel's runtime still supports it, but the in-kernel "
            f"driver of Linux 5.11+ (/dev/sgx_enclave) is the supported path{extra}",
        )
    else:
        r.add("info", "sgx", "no SGX device: this machine cannot make SGX quotes (verifying quotes works anywhere)")


def _judge_tdx(r: DoctorReport) -> None:
    m = r.machine
    ways = [s.path for s in (m.tdx_guest, m.configfs_tsm) if s.present]
    if ways:
        r.add("ok", "tdx", f"TD guest: quotes can be requested through {' and '.join(ways)}")
    else:
        r.add("info", "tdx", "not a TDX guest: no /dev/tdx_guest and no configfs-tsm report directory")
    if not r.can_quote:
        r.add("info", "quotes", "this machine cannot produce quotes; it can still fetch collateral and verify quotes")


def _judge_container(r: DoctorReport) -> None:
    m = r.machine
    if not m.in_container:
        r.add(
            "info", "container", "not running in a container (no /.dockerenv, /run/.containerenv or container cgroup)"
        )
        return
    r.add("info", "container", f"running in a container: {'; '.join(m.container_hints)}")
    if m.sgx_driver is None and not m.tdx_guest_available:
        r.add(
            "warning",
            "container",
            "the container sees no SGX or TDX device; on an SGX host start it with "
            + " ".join(f for f in m.container_flags() if "sgx" in f or "aesmd" in f)
            + "; in a TD guest with --device /dev/tdx_guest (and --volume /sys/kernel/config:/sys/kernel/config "
            "for configfs-tsm)",
        )


def _judge_aesm(r: DoctorReport) -> None:
    m = r.machine
    sock = m.aesm_socket
    if sock.kind == "socket":
        r.add("ok", "aesm", f"AESM socket at {AESM_SOCKET}")
    elif sock.present:
        r.add(
            "warning", "aesm", f"{AESM_SOCKET} exists but is a {sock.kind}, not a socket: aesmd is not listening there"
        )
    elif m.sgx_driver is not None:
        mount = " (in a container: --volume /var/run/aesmd:/var/run/aesmd)" if m.in_container else ""
        r.add(
            "warning",
            "aesm",
            f"no AESM socket at {AESM_SOCKET}: quoting through aesmd is unavailable; install and start "
            f"sgx-aesm-service, or quote in-process with the DCAP quote library{mount}",
        )
    else:
        r.add("info", "aesm", f"no AESM socket at {AESM_SOCKET} (only needed to make SGX quotes)")


def _judge_provider(r: DoctorReport) -> None:
    choice = r.choice
    if choice is None:
        return
    r.add("info", "provider", f"selected {choice.selected}: {choice.reason}")
    for warning in choice.warnings:
        r.add("warning", "provider", warning)
    selected = choice.selected_candidate
    if choice.kind == "native" and selected is not None and not selected.usable:
        r.add("error", "provider", f"attestation will fail: {selected.path} is {selected.label}")


def _judge_qcnl(r: DoctorReport, env: Mapping[str, str], used: bool) -> None:
    path = config_path(env)
    try:
        c = r.qcnl = load_qcnl_config(path)
    except ProviderConfigError as exc:
        r.errors["qcnl"] = str(exc)
        r.add("error" if used else "warning", "qcnl", f"broken QCNL configuration: {exc}")
        return
    if not used and c.source is None:
        r.add("info", "qcnl", f"no QCNL configuration at {path} (the selected provider does not read one)")
        return
    where = f"{c.source} ({c.format})" if c.source else "Intel's defaults"
    r.add(
        "ok" if used else "info",
        "qcnl",
        f"QCNL configuration {where}: PCK certificates from {c.pccs_url}, collateral from {c.collateral_url}"
        + ("" if used else " (not used by the selected provider)"),
    )
    for note in c.notes:
        r.add("info", "qcnl", note)
    if not c.use_secure_cert:
        r.add("warning", "qcnl", "use_secure_cert is false: the collateral service's TLS certificate is not checked")
    if c.tdx_collateral_url is None:
        r.add(
            "warning", "qcnl", f"{c.collateral_url} has no /sgx/ to turn into /tdx/: TDX collateral cannot be fetched"
        )
    if c.local_cache_only:
        r.add("info", "qcnl", "local_cache_only: PCK certificates come only from pre-populated cache files")


def _judge_azure(r: DoctorReport, env: Mapping[str, str], used: bool, *, ours: bool) -> None:
    """``used``: the selected provider reads ``AZDCAP_*``; ``ours``: it is pydcap's Azure provider, which
    refuses some settings Azure's own plugin accepts."""
    given = any(k.startswith(AZURE_PREFIX) for k in env)
    try:
        c = AzureConfig.from_env(env)
        if ours:
            c.check_supported()
    except ProviderConfigError as exc:
        r.errors["azure"] = str(exc)
        r.add("error" if used else "warning", "azure", f"bad Azure DCAP client setting: {exc}")
        return
    r.azure = c
    if not (used or given):
        return
    logging = "silent" if c.log_level is None else f"at {c.log_level.name} and more severe"
    r.add(
        "ok" if used else "info",
        "azure",
        f"Azure DCAP client: collateral from {c.base_cert_url} ({c.collateral_version}), logging {logging}"
        + ("" if used else " (not used by the selected provider)"),
    )


def _judge_bundled(r: DoctorReport, env: Mapping[str, str], used: bool) -> None:
    try:
        c = BundledConfig.from_env(env)
        c.probe_url()  # the service's client refuses a URL it cannot use (an API version it does not speak)
        r.bundled = c
    except ProviderConfigError as exc:
        r.errors["bundled"] = str(exc)
        r.add("error" if used else "warning", "bundled", f"bad bundled provider setting: {exc}")
        return
    if not used:
        if c.variables_set:
            r.add("info", "bundled", f"bundled provider settings given but not used: {', '.join(c.variables_set)}")
        return
    r.add(
        "ok",
        "bundled",
        f"bundled provider: collateral from {c.describe()} ({c.service_reason}), kept in {c.store_location}",
    )
    if c.trusted_root is not None:
        try:
            root = load_trusted_root(c.trusted_root)
        except ProviderConfigError as exc:
            r.add("error", "bundled", f"{TRUSTED_ROOT_ENV}: {exc.reason}")
        else:
            if not root.is_intel:
                r.add(
                    "warning",
                    "bundled",
                    f"{TRUSTED_ROOT_ENV} makes the provider trust {root.name} ({c.trusted_root}), not Intel's root: "
                    "what it serves proves nothing about real Intel hardware",
                )
    if c.service == "pcs" and not c.api_key:
        # Only a machine that makes quotes needs PCK certificates; verifying needs collateral alone.
        r.add("warning" if r.can_quote else "info", "bundled", f"no {API_KEY_ENV}: {MISSING_API_KEY}")
    if c.verify_tls is False:
        r.add("warning", "bundled", f"{VERIFY_TLS_ENV}=false: the collateral service's TLS certificate is not checked")


def _probe(
    r: DoctorReport,
    *,
    network: bool,
    service_url: str | None,
    timeout: float,
    reads: Configuration | None,
    ca_cert: str | None,
) -> None:
    verify: bool | str = True
    url = service_url
    if url is None and reads == "intel-qcnl" and r.qcnl is not None:
        url, verify = r.qcnl.probe_url(), r.qcnl.use_secure_cert
    elif url is None and reads == "azure" and r.azure is not None:
        url = r.azure.probe_url()
    elif url is None and reads == "bundled" and r.bundled is not None:
        url, verify = r.bundled.probe_url(), r.bundled.verify_tls
    if url is None:
        r.add("info", "service", "no collateral service checked: give --service URL to check one")
        return
    if ca_cert is not None:
        verify = ca_cert
    if not network:
        r.add("info", "service", f"not checked (--offline): {url}")
        return
    probe = r.service = probe_service(url, verify=verify, timeout=timeout)
    if probe.outcome == "served":
        r.add("ok", "service", f"{url} answered {probe.detail} in {probe.elapsed_ms} ms")
    elif probe.outcome == "http-error":
        hint = {
            404: ": the service has no data for this request (a PCCS in REQ mode needs platforms registered)",
            401: ": the service wants an API key or token",
            502: ": the caching service cannot reach Intel PCS",
        }.get(probe.status or 0, "")
        r.add("warning", "service", f"{url} answered {probe.detail}{hint}")
    elif probe.outcome == "tls-untrusted":
        setting = f"{VERIFY_TLS_ENV}=/path/to/its-cert.pem" if reads == "bundled" else '"use_secure_cert": false'
        r.add(
            "error",
            "service",
            f"{url}: {probe.detail}. Check it here with --ca-cert PEM (for a pydcap PCCS: 'pydcap pccs cert "
            f"--path'); for the provider set {setting}, or install its CA certificate",
        )
    else:
        r.add("error", "service", f"{url}: {probe.detail}: collateral cannot be fetched")
