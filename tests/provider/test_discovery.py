"""Discovery: the four documented paths under a temporary system root, alone and together, explicit choices,
and the plugin each selection loads serving collateral that verifies."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from pydcap import verify_quote
from pydcap.provider.discovery import SEARCH_PATHS, describe_plugin, select_provider
from pydcap.provider.errors import ProviderSelectionError
from pydcap.provider.loader import open_provider
from pydcap.provider.native.elf import NotElfError, exported_symbols
from pydcap.provider.native.provider import NativeProvider
from tests.support.provider import Served, install


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "sysroot"
    root.mkdir(exist_ok=True)
    return root


@pytest.mark.parametrize("position", range(4))
def test_each_documented_path_alone_is_found_and_serves(
    plugin_builds: dict[str, Path], served: Served, tmp_path: Path, position: int
) -> None:
    root = _root(tmp_path)
    target = install(plugin_builds["intel"], root, SEARCH_PATHS[position])
    choice = select_provider(env={"PYDCAP_SYSROOT": str(root)})
    assert choice.kind == "native"
    assert choice.selected == str(target)
    assert [c.path for c in choice.candidates] == [str(target)]
    assert f"position {position + 1} of 4" in choice.reason
    assert choice.warnings == ()
    with open_provider(choice) as provider:
        assert isinstance(provider, NativeProvider)
        provider.library.fakeqpl_configure(str(served.directory).encode(), 3, 1)
        collateral = provider.collateral_for_quote(served.sgx.quote)
        assert provider.library.fakeqpl_live_allocations() == 0
    result = verify_quote(served.sgx.quote, collateral, at=served.sgx.at)
    assert result.failure is None
    assert result.tcb_status is not None and result.tcb_status.value == served.sgx.expected["tcb_status"]


@pytest.mark.parametrize("positions", [p for n in (2, 3, 4) for p in itertools.combinations(range(4), n)])
def test_several_installed_the_first_in_order_wins(
    plugin_builds: dict[str, Path], tmp_path: Path, positions: tuple[int, ...]
) -> None:
    root = _root(tmp_path)
    flavours = ["intel", "azure"]
    targets = [install(plugin_builds[flavours[i % 2]], root, SEARCH_PATHS[p]) for i, p in enumerate(positions)]
    choice = select_provider(env={"PYDCAP_SYSROOT": str(root)})
    assert choice.selected == str(targets[0])
    assert [c.path for c in choice.candidates] == [str(t) for t in targets]
    assert [c.position for c in choice.candidates] == [p + 1 for p in positions]
    assert choice.candidates[0].flavor == "intel"
    assert choice.candidates[1].flavor == "azure"
    (conflict,) = choice.warnings
    assert conflict.startswith(f"{len(positions)} different quote provider libraries are installed: {targets[0]}")
    assert all(str(t) in conflict for t in targets) and "Uninstall the others" in conflict
    assert choice.to_dict()["candidates"][0]["search_position"] == positions[0] + 1


def test_a_package_symlink_is_one_plugin_not_a_conflict(plugin_builds: dict[str, Path], tmp_path: Path) -> None:
    root = _root(tmp_path)
    real = install(plugin_builds["intel"], root, "/usr/lib/x86_64-linux-gnu/libdcap_quoteprov.so.1.13.100")
    for documented in SEARCH_PATHS[:2]:
        os.symlink(real.name, root / documented.lstrip("/"))
    choice = select_provider(env={"PYDCAP_SYSROOT": str(root)})
    first, second = choice.candidates
    assert second.same_file_as == first.path and first.real_path == str(real)
    assert choice.warnings == ()


def test_nothing_installed_means_bundled(tmp_path: Path) -> None:
    choice = select_provider(env={"PYDCAP_SYSROOT": str(_root(tmp_path))})
    assert (choice.kind, choice.selected, choice.candidates) == ("bundled", "bundled", ())
    assert "no libdcap_quoteprov.so installed" in choice.reason
    assert str(_root(tmp_path) / "usr/lib/libdcap_quoteprov.so") in choice.reason


@pytest.mark.parametrize(
    ("name", "kind"), [("bundled", "bundled"), ("intel", "intel-qcnl"), ("QCNL", "intel-qcnl"), ("azure", "azure")]
)
def test_explicit_names_override_discovery(
    plugin_builds: dict[str, Path], tmp_path: Path, name: str, kind: str
) -> None:
    root = _root(tmp_path)
    target = install(plugin_builds["intel"], root, SEARCH_PATHS[2])
    choice = select_provider(name, origin="--provider", env={"PYDCAP_SYSROOT": str(root)})
    assert (choice.kind, choice.selected, choice.explicit) == (kind, kind, True)
    assert choice.reason == f"chosen explicitly (--provider {name!r})"
    assert [c.path for c in choice.candidates] == [str(target)]
    assert any("overrides" in w and str(target) in w for w in choice.warnings)


def test_explicit_path_and_environment(plugin_builds: dict[str, Path], tmp_path: Path) -> None:
    root = _root(tmp_path)
    elsewhere = tmp_path / "opt" / "libdcap_quoteprov.so"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(plugin_builds["azure"].read_bytes())
    env = {"PYDCAP_SYSROOT": str(root), "PYDCAP_PROVIDER": str(elsewhere)}
    choice = select_provider(env=env)
    assert (choice.kind, choice.selected) == ("native", str(elsewhere))
    assert choice.reason == f"chosen explicitly (PYDCAP_PROVIDER={elsewhere})"
    assert select_provider("auto", env=env).kind == "bundled"  # an argument beats the environment


def test_bad_choices_are_refused(tmp_path: Path) -> None:
    env = {"PYDCAP_SYSROOT": str(_root(tmp_path))}
    with pytest.raises(ProviderSelectionError, match="unknown provider"):
        select_provider("intle", env=env)
    with pytest.raises(ProviderSelectionError, match="no quote provider library at"):
        select_provider(str(tmp_path / "missing.so"), env=env)
    with pytest.raises(ProviderSelectionError, match=r"no libdcap_quoteprov\.so found"):
        select_provider("native", env=env)


def test_incomplete_unreadable_and_dangling_plugins_are_reported(
    plugin_builds: dict[str, Path], tmp_path: Path
) -> None:
    root = _root(tmp_path)
    install(plugin_builds["broken"], root, SEARCH_PATHS[0])
    garbage = root / SEARCH_PATHS[1].lstrip("/")
    garbage.write_bytes(b"#!/bin/sh\n")
    dangling = root / SEARCH_PATHS[2].lstrip("/")
    dangling.parent.mkdir(parents=True, exist_ok=True)
    os.symlink("libdcap_quoteprov.so.1.9", dangling)
    choice = select_provider(env={"PYDCAP_SYSROOT": str(root)})
    broken, unreadable = choice.candidates
    assert broken.flavor == "incomplete" and broken.missing == ("sgx_ql_free_quote_verification_collateral",)
    assert unreadable.flavor == "unreadable" and "not an ELF file" in unreadable.label
    assert choice.selected == broken.path  # the documented order decides, usable or not
    assert any("wins the search but is not a usable quote provider" in w for w in choice.warnings)
    assert any("dangling symbolic link" in w for w in choice.warnings)


def test_discovery_refuses_what_loading_would_refuse(plugin_builds: dict[str, Path], tmp_path: Path) -> None:
    # A TDX getter without its free function: NativeProvider refuses it, so discovery must not call it usable.
    root = _root(tmp_path)
    install(plugin_builds["unpaired"], root, SEARCH_PATHS[0])
    (candidate,) = select_provider(env={"PYDCAP_SYSROOT": str(root)}).candidates
    assert (candidate.flavor, candidate.missing) == ("incomplete", ("tdx_ql_free_quote_verification_collateral",))
    assert not candidate.usable


def test_elf_reader_on_the_built_plugin_and_on_junk(plugin_builds: dict[str, Path], tmp_path: Path) -> None:
    symbols = exported_symbols(plugin_builds["azure"])
    assert "sgx_ql_set_logging_function" in symbols
    assert "tdx_ql_get_quote_verification_collateral" not in symbols
    assert "counted_alloc" not in symbols  # static functions are not exported
    truncated = tmp_path / "truncated.so"
    truncated.write_bytes(plugin_builds["intel"].read_bytes()[:200])
    with pytest.raises(NotElfError):
        exported_symbols(truncated)
    assert describe_plugin(truncated).flavor == "unreadable"
