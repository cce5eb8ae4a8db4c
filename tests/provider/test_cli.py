"""``pydcap provider list|show`` on faked machines: the three Python providers with their configured services,
installed plugins in search order, which one is selected, and exit statuses for unusable ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pydcap.cli import main
from pydcap.provider.discovery import SEARCH_PATHS
from tests.support.provider import install


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    r = tmp_path / "sysroot"
    r.mkdir()
    monkeypatch.setenv("PYDCAP_SYSROOT", str(r))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in ("PYDCAP_PROVIDER", "QCNL_CONF_PATH", "PYDCAP_COLLATERAL_SERVICE", "AZDCAP_COLLATERAL_VERSION"):
        monkeypatch.delenv(name, raising=False)
    return r


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    status = main(["provider", *argv, "--json"])
    return status, json.loads(capsys.readouterr().out)


def test_list_with_two_plugins(root: Path, plugin_builds: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    first = install(plugin_builds["azure"], root, SEARCH_PATHS[1])
    second = install(plugin_builds["broken"], root, SEARCH_PATHS[3])
    status, data = run_json(capsys, "list")
    assert status == 0
    providers = data["providers"]
    assert isinstance(providers, list)
    assert [p["name"] for p in providers] == ["bundled", "intel-qcnl", "azure", str(first), str(second)]
    assert [p["name"] for p in providers if p["selected"]] == [str(first)]
    assert providers[3]["serves_from"] == "Azure DCAP client (sgx_ql_set_logging_function), search position 2"
    assert "not a usable quote provider" in providers[4]["problem"]
    assert any("2 different quote provider libraries" in w for w in data["selection"]["warnings"])  # type: ignore[index]


def test_list_as_text_names_the_services(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["provider", "list"]) == 0
    text = capsys.readouterr().out
    assert "Intel PCS at" in text and "Selected: bundled (no libdcap_quoteprov.so installed" in text


def test_show_the_default_and_a_named_provider(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, data = run_json(capsys, "show")
    shown = data["provider"]
    assert status == 0 and shown["name"] == "bundled"  # type: ignore[index]
    assert shown["settings"]["url"] == "https://api.trustedservices.intel.com"  # type: ignore[index]
    conf = root / "etc/sgx_default_qcnl.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text('{"pccs_url": "https://pccs.example:8081/sgx/certification/v4/"}')
    assert main(["provider", "show", "intel"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("intel-qcnl (intel-qcnl): PCK certificates from https://pccs.example:8081/")
    assert "Selected: intel-qcnl (chosen explicitly (argument 'intel'))" in text


def test_unusable_providers_exit_1_and_unknown_names_2(
    root: Path, plugin_builds: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AZDCAP_COLLATERAL_VERSION", "v2")
    status, data = run_json(capsys, "show", "azure")
    assert status == 1 and "reads v3 and v4" in data["provider"]["problem"]  # type: ignore[index]
    broken = install(plugin_builds["broken"], root, SEARCH_PATHS[0])
    status, data = run_json(capsys, "show")
    assert status == 1 and data["provider"]["name"] == str(broken)  # type: ignore[index]
    assert main(["provider", "show", "nonsense"]) == 2
    assert "unknown provider" in capsys.readouterr().err
