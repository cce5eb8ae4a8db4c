"""Whether this machine is an Azure VM, for the bundled provider's default collateral service (Azure's cache
needs no set-up there, Intel PCS needs a subscription key for PCK certificates).

Recognised locally first, from the DMI data the kernel exposes under ``/sys/class/dmi/id`` (looked up under
``$PYDCAP_SYSROOT``): Azure gives its VMs the chassis asset tag ``7783-7084-3265-9085``. A Hyper-V VM without that
tag (an Azure VM whose asset tag is not readable, or Hyper-V elsewhere) is settled by Azure's instance metadata
service, asked once per process with a short timeout. Without DMI data nothing is asked: not recognised.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from pydcap.provider.discovery import under_root
from pydcap.sources.azure import API_VERSION_INSTANCE_METADATA, AZURE_INSTANCE_METADATA_URL
from pydcap.sources.http import read_limited

DMI = "/sys/class/dmi/id"
AZURE_ASSET_TAG = "7783-7084-3265-9085"
HYPER_V_VENDOR = "Microsoft Corporation"
METADATA_TIMEOUT = 0.5  # seconds: the service is link-local, it answers at once or not at all
METADATA_MAX_BYTES = 1024 * 1024  # the instance metadata is a few KB


@dataclass(frozen=True)
class CloudFinding:
    """Whether this is an Azure VM, and the evidence, as a phrase (``an Azure VM (DMI chassis asset tag ...)``)."""

    azure: bool
    evidence: str


def _dmi(root: Path, name: str) -> str | None:
    try:
        return under_root(root, f"{DMI}/{name}").read_text(errors="replace").strip()
    except OSError:
        return None


@functools.lru_cache(maxsize=8)
def azure_metadata_answers(url: str = AZURE_INSTANCE_METADATA_URL, timeout: float = METADATA_TIMEOUT) -> bool:
    """Whether Azure's instance metadata service answers at ``url`` as Azure's does (once per process and URL)."""
    import httpx

    try:
        with httpx.stream(
            "GET",
            url,
            params={"api-version": API_VERSION_INSTANCE_METADATA},
            headers={"metadata": "true"},
            timeout=timeout,
            trust_env=False,  # link-local: never through a proxy
        ) as streamed:
            answer = read_limited(streamed, METADATA_MAX_BYTES)
        compute = answer.json().get("compute") if answer is not None and answer.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return False
    return isinstance(compute, dict)


def detect_azure(root: Path, metadata_url: str = AZURE_INSTANCE_METADATA_URL) -> CloudFinding:
    """Is the machine at ``root`` an Azure VM? DMI first; the instance metadata service only for Hyper-V."""
    tag = _dmi(root, "chassis_asset_tag")
    if tag == AZURE_ASSET_TAG:
        return CloudFinding(True, f"an Azure VM (DMI chassis asset tag {AZURE_ASSET_TAG})")
    vendor = _dmi(root, "sys_vendor")
    if vendor is None:
        return CloudFinding(False, f"not recognised as an Azure VM (no DMI data under {DMI})")
    if vendor != HYPER_V_VENDOR:
        return CloudFinding(False, f"not an Azure VM (DMI system vendor {vendor or 'empty'})")
    if azure_metadata_answers(metadata_url):
        return CloudFinding(True, "an Azure VM (a Hyper-V VM whose Azure instance metadata service answers)")
    return CloudFinding(False, "a Hyper-V VM, not on Azure (Azure's instance metadata service does not answer)")
