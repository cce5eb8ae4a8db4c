"""Recognising an Azure VM for the bundled provider's default: DMI first (a fake system root), Azure's instance
metadata service only for a Hyper-V VM without Azure's asset tag (the simulated one on loopback); and the
provider's error when Intel PCS wants a subscription key that is not set."""

from __future__ import annotations

from pathlib import Path

import pytest

from pydcap.provider.azure.cloud import azure_metadata_answers, detect_azure
from pydcap.provider.bundled import BundledProvider
from pydcap.provider.errors import ProviderError
from pydcap.provider.interface import PlatformId
from pydcap.sim import SimulatedIntel
from pydcap.sim.azure_server import SimulatedAzure
from pydcap.sim.server import SimulatedPcs


def hyper_v(root: Path) -> Path:
    (root / "sys/class/dmi/id").mkdir(parents=True)
    (root / "sys/class/dmi/id/sys_vendor").write_text("Microsoft Corporation\n")
    return root


def test_a_hyper_v_vm_is_azure_when_azures_instance_metadata_answers(tmp_path: Path) -> None:
    root = hyper_v(tmp_path)
    with SimulatedAzure(SimulatedIntel(1)) as azure:
        found = detect_azure(root, metadata_url=azure.instance_url)
        assert found.azure and "instance metadata service answers" in found.evidence
        assert [r.service for r in azure.requests] == ["imds"]
        detect_azure(root, metadata_url=azure.instance_url)
        assert len(azure.requests) == 1  # asked once per process
    gone = detect_azure(root, metadata_url="http://127.0.0.1:9/metadata/instance")
    assert not gone.azure and gone.evidence.startswith("a Hyper-V VM, not on Azure")
    assert not azure_metadata_answers("http://127.0.0.1:9/")


def test_without_hyper_v_the_metadata_service_is_not_asked(tmp_path: Path) -> None:
    azure_metadata_answers.cache_clear()
    asked = "http://127.0.0.1:9/never"
    assert detect_azure(tmp_path, metadata_url=asked).evidence.startswith("not recognised as an Azure VM (no DMI")
    (tmp_path / "sys/class/dmi/id").mkdir(parents=True)
    (tmp_path / "sys/class/dmi/id/sys_vendor").write_text("Amazon EC2\n")
    assert detect_azure(tmp_path, metadata_url=asked).evidence == "not an Azure VM (DMI system vendor Amazon EC2)"
    assert azure_metadata_answers.cache_info().misses == 0


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_pck_certificates_without_a_pcs_key_say_what_to_set(tmp_path: Path) -> None:
    intel = SimulatedIntel(1)
    platform = intel.sgx_platform()
    root = tmp_path / "root.pem"
    root.write_bytes(intel.root_pem)
    with SimulatedPcs(intel, api_key="the key") as pcs:
        env = {"PYDCAP_COLLATERAL_SERVICE": "pcs", "PYDCAP_COLLATERAL_URL": pcs.url,
               "PYDCAP_TRUSTED_ROOT": str(root), "PYDCAP_CACHE": str(tmp_path / "c.db")}  # fmt: skip
        ids = PlatformId(platform.qe_id, platform.cpu_svn, platform.pce_svn, 0, platform.encrypted_ppid)
        with BundledProvider(env=env) as provider, pytest.raises(ProviderError) as failed:
            provider.pck_cert_chain(ids)
        message = str(failed.value)
        assert (
            "answered 401. Intel PCS serves PCK certificates (needed to make quotes) only with a subscription"
            in message
        )
        assert (
            "set PYDCAP_PCS_API_KEY" in message and "PYDCAP_COLLATERAL_SERVICE=pccs PYDCAP_COLLATERAL_URL=" in message
        )
        with BundledProvider(env={**env, "PYDCAP_PCS_API_KEY": "the key"}) as provider:
            assert provider.pck_cert_chain(ids).tcbm.upper() == platform.pck.tcbm
