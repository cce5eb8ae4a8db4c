"""What this machine offers for attestation: SGX and TDX devices, configfs-tsm, the AESM socket, and whether
it runs in a container (and the ``docker run`` flags that would expose what it lacks).

Every path is looked up under the system root (``$PYDCAP_SYSROOT``) so tests and tools can fake a machine.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydcap.provider.discovery import under_root

SGX_ENCLAVE = "/dev/sgx_enclave"
SGX_PROVISION = "/dev/sgx_provision"
LEGACY_ENCLAVE = "/dev/sgx/enclave"
LEGACY_PROVISION = "/dev/sgx/provision"
TDX_GUEST = "/dev/tdx_guest"
CONFIGFS_TSM = "/sys/kernel/config/tsm/report"
AESM_SOCKET = "/var/run/aesmd/aesm.socket"
CONTAINER_MARKERS = {"/.dockerenv": "Docker", "/run/.containerenv": "Podman"}
CGROUP_FILES = ("/proc/1/cgroup", "/proc/self/cgroup")
CGROUP_WORDS = ("docker", "kubepods", "containerd", "libpod", "lxc", "buildkit")

PathKind = Literal["character device", "socket", "directory", "file", "other"]


@dataclass(frozen=True)
class PathState:
    """A path on the target system, where it was looked for, and what is there (None: nothing)."""

    path: str
    looked_at: str
    kind: PathKind | None

    @property
    def present(self) -> bool:
        return self.kind is not None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "present": self.present, "kind": self.kind}


@dataclass(frozen=True)
class MachineFacts:
    sgx_enclave: PathState
    sgx_provision: PathState
    legacy_enclave: PathState
    legacy_provision: PathState
    tdx_guest: PathState
    configfs_tsm: PathState
    aesm_socket: PathState
    container_hints: tuple[str, ...]

    @property
    def sgx_driver(self) -> Literal["in-kernel", "legacy", None]:
        if self.sgx_enclave.present:
            return "in-kernel"
        if self.legacy_enclave.present:
            return "legacy"
        return None

    @property
    def sgx_provisioning(self) -> bool:
        return self.sgx_provision.present or self.legacy_provision.present

    @property
    def tdx_guest_available(self) -> bool:
        return self.tdx_guest.present or self.configfs_tsm.present

    @property
    def in_container(self) -> bool:
        return bool(self.container_hints)

    def container_flags(self) -> list[str]:
        """``docker run`` options that expose SGX, AESM and TDX to a container: the in-kernel driver's
        devices (or the legacy driver's when that is what this machine has), the AESM socket, the TD guest
        device and configfs-tsm."""
        if self.legacy_enclave.present and not self.sgx_enclave.present:
            flags = [f"--device {LEGACY_ENCLAVE}", f"--device {LEGACY_PROVISION}"]
        else:
            flags = [f"--device {SGX_ENCLAVE}", f"--device {SGX_PROVISION}"]
        aesm_dir = str(Path(AESM_SOCKET).parent)
        return [
            *flags,
            f"--volume {aesm_dir}:{aesm_dir}",
            f"--device {TDX_GUEST}",
            "--volume /sys/kernel/config:/sys/kernel/config",
        ]

    def missing_container_flags(self) -> list[str]:
        """The flags above whose device, socket or directory is not visible here."""
        states = {
            SGX_ENCLAVE: self.sgx_enclave,
            SGX_PROVISION: self.sgx_provision,
            LEGACY_ENCLAVE: self.legacy_enclave,
            LEGACY_PROVISION: self.legacy_provision,
            str(Path(AESM_SOCKET).parent): self.aesm_socket,
            TDX_GUEST: self.tdx_guest,
            "/sys/kernel/config": self.configfs_tsm,
        }
        missing = []
        for flag in self.container_flags():
            target = flag.split()[1].split(":")[0]
            state = states.get(target)
            if state is not None and not state.present:
                missing.append(flag)
        return missing

    def to_dict(self) -> dict[str, Any]:
        return {
            "sgx": {
                "driver": self.sgx_driver,
                "provisioning": self.sgx_provisioning,
                "devices": [
                    s.to_dict()
                    for s in (self.sgx_enclave, self.sgx_provision, self.legacy_enclave, self.legacy_provision)
                ],
            },
            "tdx": {
                "guest": self.tdx_guest_available,
                "devices": [self.tdx_guest.to_dict(), self.configfs_tsm.to_dict()],
            },
            "aesm": self.aesm_socket.to_dict(),
            "container": {
                "detected": self.in_container,
                "hints": list(self.container_hints),
                "device_flags": self.container_flags() if self.in_container else [],
                "missing_flags": self.missing_container_flags() if self.in_container else [],
            },
        }


def path_state(root: Path, path: str) -> PathState:
    looked_at = under_root(root, path)
    try:
        mode = looked_at.stat().st_mode
    except OSError:
        return PathState(path, str(looked_at), None)
    kind: PathKind
    if stat.S_ISCHR(mode):
        kind = "character device"
    elif stat.S_ISSOCK(mode):
        kind = "socket"
    elif stat.S_ISDIR(mode):
        kind = "directory"
    elif stat.S_ISREG(mode):
        kind = "file"
    else:
        kind = "other"
    return PathState(path, str(looked_at), kind)


def container_hints(root: Path) -> tuple[str, ...]:
    hints = [
        f"{marker} exists ({engine})"
        for marker, engine in CONTAINER_MARKERS.items()
        if under_root(root, marker).exists()
    ]
    for cgroup in CGROUP_FILES:
        try:
            text = under_root(root, cgroup).read_text(errors="replace")
        except OSError:
            continue
        words = [w for w in CGROUP_WORDS if w in text]
        if words:
            hints.append(f"{cgroup} mentions {', '.join(words)}")
    return tuple(hints)


def inspect_machine(root: Path) -> MachineFacts:
    return MachineFacts(
        sgx_enclave=path_state(root, SGX_ENCLAVE),
        sgx_provision=path_state(root, SGX_PROVISION),
        legacy_enclave=path_state(root, LEGACY_ENCLAVE),
        legacy_provision=path_state(root, LEGACY_PROVISION),
        tdx_guest=path_state(root, TDX_GUEST),
        configfs_tsm=path_state(root, CONFIGFS_TSM),
        aesm_socket=path_state(root, AESM_SOCKET),
        container_hints=container_hints(root),
    )
