"""The native provider against a real C plugin built with gcc: struct layouts, marshalling, collateral that
verifies, memory released through the plugin's free functions, error codes, optional symbols, logging."""

from __future__ import annotations

import ctypes
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pydcap import verify_quote
from pydcap.intel import PlatformRequestError
from pydcap.provider import codes
from pydcap.provider.errors import (
    CollateralNotFound,
    InvalidParameter,
    MalformedResponse,
    NoPlatformCertData,
    OperationNotSupported,
    PlatformUnknown,
    PluginLoadError,
    ProviderError,
    RootCaUntrusted,
    ServiceUnavailable,
    UnexpectedProviderError,
    UnsupportedCollateralVersion,
)
from pydcap.provider.interface import CacheKind, LogLevel, PlatformId
from pydcap.provider.native import abi
from pydcap.provider.native.provider import NativeProvider, normalise_crl
from tests.support.provider import Served, write_served

PLATFORM = PlatformId(
    qe_id=bytes(range(16)),
    cpu_svn=bytes(range(100, 116)),
    pce_svn=0x0D0E,
    pce_id=0x0A0B,
    encrypted_ppid=bytes([0xAB]) + bytes(383),
    crypto_suite=1,
)


def _provider(plugin: Path, served: Served, version: tuple[int, int] = (3, 1)) -> NativeProvider:
    provider = NativeProvider(plugin)
    provider.library.fakeqpl_configure(str(served.directory).encode(), *version)
    return provider


def _live(provider: NativeProvider) -> int:
    return int(provider.library.fakeqpl_live_allocations())


def _total(provider: NativeProvider) -> int:
    return int(provider.library.fakeqpl_total_allocations())


def _last_request(provider: NativeProvider) -> str:
    return (ctypes.c_char * 512).in_dll(provider.library, "fakeqpl_last_request").value.decode()


@pytest.fixture
def intel_plugin(plugin_builds: dict[str, Path], served: Served, tmp_path: Path) -> Iterator[NativeProvider]:
    # A private copy per test: each load gets fresh counters.
    copy = tmp_path / "libdcap_quoteprov.so.1"
    copy.write_bytes(plugin_builds["intel"].read_bytes())
    with _provider(copy, served) as provider:
        yield provider


def test_struct_layouts_match_gcc(intel_plugin: NativeProvider) -> None:
    layout = (ctypes.c_uint32 * 32)()
    intel_plugin.library.fakeqpl_layout(layout)
    p, q, c = abi.PckCertIdStruct, abi.QuoteConfigStruct, abi.CollateralStruct
    ours = [
        ctypes.sizeof(p), p.qe3_id_size.offset, p.p_platform_cpu_svn.offset, p.p_platform_pce_isv_svn.offset,
        p.p_encrypted_ppid.offset, p.encrypted_ppid_size.offset, p.crypto_suite.offset, p.pce_id.offset,
        ctypes.sizeof(q), q.cert_cpu_svn.offset, q.cert_pce_isv_svn.offset, q.cert_data_size.offset,
        q.p_cert_data.offset,
        ctypes.sizeof(c), c.tee_type.offset, c.pck_crl_issuer_chain.offset, c.root_ca_crl.offset, c.pck_crl.offset,
        c.tcb_info_issuer_chain.offset, c.tcb_info.offset, c.qe_identity_issuer_chain.offset, c.qe_identity.offset,
        c.qe_identity_size.offset,
    ]  # fmt: skip
    assert ours == list(layout[: len(ours)])
    assert (ctypes.sizeof(p), ctypes.sizeof(q), ctypes.sizeof(c)) == (43, 34, 120)


def test_global_init_is_called_once_and_cleanup_on_close(intel_plugin: NativeProvider) -> None:
    assert intel_plugin.library.fakeqpl_init_calls() == 1
    intel_plugin.close()
    assert intel_plugin.library.fakeqpl_cleanup_calls() == 1
    intel_plugin.close()
    assert intel_plugin.library.fakeqpl_cleanup_calls() == 1
    with pytest.raises(ProviderError, match="closed"):
        intel_plugin.root_ca_crl()


def test_pck_cert_chain_marshals_the_platform_id_and_frees(intel_plugin: NativeProvider, served: Served) -> None:
    result = intel_plugin.pck_cert_chain(PLATFORM)
    assert _last_request(intel_plugin) == (
        f"qeid={bytes(range(16)).hex()} cpusvn={bytes(range(100, 116)).hex()} "
        f"pcesvn={0x0D0E} pceid={0x0A0B} ppid_size=384 ppid_first={0xAB} suite=1"
    )
    assert result.pem == served.pck_chain
    assert result.tcbm == served.tcbm
    assert result.cert_cpu_svn == served.pck.sgx.tcb.cpu_svn
    assert result.cert_pce_svn == served.pck.sgx.tcb.pce_svn
    assert result.pck.fmspc == served.pck.fmspc
    assert _total(intel_plugin) > 0 and _live(intel_plugin) == 0


def test_pck_cert_chain_without_encrypted_ppid(intel_plugin: NativeProvider) -> None:
    platform = PlatformId(qe_id=b"\x01" * 16, cpu_svn=bytes(16), pce_svn=1, pce_id=0)
    intel_plugin.pck_cert_chain(platform)
    assert "ppid_size=0 ppid_first=0" in _last_request(intel_plugin)


@pytest.mark.parametrize("tee", ["sgx", "tdx"])
@pytest.mark.parametrize(("encoding", "version"), [("der", (3, 1)), ("hex", (3, 0)), ("pem", (1, 0)), ("der", (4, 0))])
def test_collateral_verifies_and_is_released(
    plugin_builds: dict[str, Path], tmp_path: Path, tee: str, encoding: str, version: tuple[int, int]
) -> None:
    served = write_served(tmp_path / "served", encoding)
    copy = tmp_path / "plugin.so"
    copy.write_bytes(plugin_builds["intel"].read_bytes())
    b = served.sgx if tee == "sgx" else served.tdx
    with _provider(copy, served, version) as provider:
        collateral = provider.collateral_for_quote(b.quote)
        assert _total(provider) > 0
        assert _live(provider) == 0
    assert collateral.digest == served.expected(b).digest
    result = verify_quote(b.quote, collateral, at=b.at)
    assert (result.tcb_status.value if result.tcb_status else None) == b.expected["tcb_status"]
    assert (result.failure.value if result.failure else None) == b.expected["failure"]


def test_request_reaches_the_plugin_as_given(intel_plugin: NativeProvider, served: Served) -> None:
    intel_plugin.collateral_for_quote(served.tdx.quote)
    fmspc = (served.directory / "tdx" / "fmspc.hex").read_text()
    assert _last_request(intel_plugin) == f"tdx fmspc={fmspc} ca=platform"


def test_plugin_errors_are_named(intel_plugin: NativeProvider, served: Served) -> None:
    fmspc = bytes.fromhex((served.directory / "sgx" / "fmspc.hex").read_text())
    with pytest.raises(CollateralNotFound) as info:
        intel_plugin.verification_collateral(bytes(6), "processor")
    assert info.value.code == codes.TCBINFO_NOT_FOUND and info.value.name == "SGX_QL_TCBINFO_NOT_FOUND"
    with pytest.raises(CollateralNotFound, match="SGX_QL_NO_QUOTE_COLLATERAL_DATA"):
        intel_plugin.verification_collateral(fmspc, "platform")
    cases: list[tuple[int, type[ProviderError]]] = [
        (0xE047, PlatformUnknown),
        (0xE040, ServiceUnavailable),
        (0xE065, RootCaUntrusted),
        (0xE011, NoPlatformCertData),
        (0xE046, MalformedResponse),
        (0xE0FE, UnexpectedProviderError),
    ]
    for code, family in cases:
        intel_plugin.library.fakeqpl_fail_next(code)
        with pytest.raises(family) as caught:
            intel_plugin.pck_cert_chain(PLATFORM)
        assert caught.value.code == code
    assert "UNKNOWN_QUOTE3_ERROR_0xE0FE" in str(caught.value)
    assert _live(intel_plugin) == 0


def test_bad_requests_never_reach_the_plugin(intel_plugin: NativeProvider) -> None:
    with pytest.raises(InvalidParameter, match="FMSPC must be 6 bytes"):
        intel_plugin.verification_collateral(bytes(5), "processor")
    with pytest.raises(InvalidParameter, match="CA must be"):
        intel_plugin.verification_collateral(bytes(6), "Processor")  # type: ignore[arg-type]
    with pytest.raises(PlatformRequestError, match="CPUSVN"):  # refused where the platform id is made
        PlatformId(qe_id=b"\x01" * 16, cpu_svn=bytes(15), pce_svn=1, pce_id=0)
    assert _total(intel_plugin) == 0


def test_unsupported_collateral_version_is_refused_after_freeing(
    plugin_builds: dict[str, Path], served: Served, tmp_path: Path
) -> None:
    copy = tmp_path / "plugin.so"
    copy.write_bytes(plugin_builds["intel"].read_bytes())
    with _provider(copy, served, (2, 7)) as provider:
        with pytest.raises(UnsupportedCollateralVersion, match=r"2\.7"):
            provider.collateral_for_quote(served.sgx.quote)
        assert _live(provider) == 0


def test_qve_identity_root_crl_and_clear_cache(intel_plugin: NativeProvider, served: Served) -> None:
    qve = intel_plugin.qve_identity()
    assert qve.identity.to_bytes() == (served.directory / "qve_identity.json").read_bytes()
    assert qve.issuer_chain == (served.directory / "qve_identity_issuer_chain.pem").read_bytes()
    assert intel_plugin.root_ca_crl() == served.expected(served.sgx).root_ca_crl
    intel_plugin.clear_cache(CacheKind.CERTIFICATE | CacheKind.QV_COLLATERAL)
    assert intel_plugin.library.fakeqpl_last_clear() == 3
    assert _live(intel_plugin) == 0


def test_intel_logging_levels(intel_plugin: NativeProvider, served: Served) -> None:
    messages: list[tuple[LogLevel, str]] = []
    intel_plugin.set_logging(lambda level, text: messages.append((level, text)), LogLevel.INFO)
    intel_plugin.collateral_for_quote(served.sgx.quote)
    assert (LogLevel.INFO, "[fakeqpl] collateral requested") in messages
    messages.clear()
    intel_plugin.set_logging(lambda level, text: messages.append((level, text)), LogLevel.ERROR)
    intel_plugin.collateral_for_quote(served.sgx.quote)
    assert messages == []
    intel_plugin.set_logging(None)
    intel_plugin.collateral_for_quote(served.sgx.quote)
    assert messages == []


def test_a_logging_callback_outlives_its_provider(
    plugin_builds: dict[str, Path], served: Served, tmp_path: Path
) -> None:
    """The plugin keeps the callback after its provider is gone and ctypes never unloads a library, so a later
    provider of the same library must not make the plugin call freed code. In a child: that is a crash."""
    library = tmp_path / "plugin.so"
    library.write_bytes(plugin_builds["intel"].read_bytes())
    quote = tmp_path / "quote.bin"
    quote.write_bytes(served.sgx.quote)
    script = f"""
import gc
from pathlib import Path
from pydcap.provider.interface import LogLevel
from pydcap.provider.native.provider import NativeProvider

def opened():
    provider = NativeProvider({str(library)!r})
    provider.library.fakeqpl_configure({str(served.directory).encode()!r}, 3, 1)
    return provider

first = opened()
first.set_logging(lambda level, text: None, LogLevel.INFO)
first.close()
del first
gc.collect()
reused = [bytearray(256) for _ in range(20000)]  # let the freed callback's memory be taken
second = opened()
second.collateral_for_quote(Path({str(quote)!r}).read_bytes())
print("served")
"""
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120, check=False)
    assert (child.returncode, child.stdout.strip()) == (0, b"served"), child.stderr.decode()[-2000:]


def test_azure_flavour_logging_and_missing_tdx(plugin_builds: dict[str, Path], served: Served, tmp_path: Path) -> None:
    copy = tmp_path / "azure.so"
    copy.write_bytes(plugin_builds["azure"].read_bytes())
    messages: list[tuple[LogLevel, str]] = []
    with _provider(copy, served) as azure:
        assert azure.flavor == "azure"
        assert "sgx_qpl_global_init" not in azure.exports
        azure.set_logging(lambda level, text: messages.append((level, text)), LogLevel.WARNING)
        assert messages == [(LogLevel.WARNING, "[fakeqpl] warning level message")]
        azure.collateral_for_quote(served.sgx.quote)  # INFO messages: filtered at WARNING
        assert len(messages) == 1
        with pytest.raises(OperationNotSupported, match="tdx_ql_get_quote_verification_collateral"):
            azure.collateral_for_quote(served.tdx.quote)
        assert _live(azure) == 0


def test_library_without_required_functions_is_refused(plugin_builds: dict[str, Path], tmp_path: Path) -> None:
    copy = tmp_path / "broken.so"
    copy.write_bytes(plugin_builds["broken"].read_bytes())
    with pytest.raises(PluginLoadError, match="sgx_ql_free_quote_verification_collateral"):
        NativeProvider(copy)
    unpaired = tmp_path / "unpaired.so"
    unpaired.write_bytes(plugin_builds["unpaired"].read_bytes())
    with pytest.raises(PluginLoadError, match="lacks tdx_ql_free_quote_verification_collateral"):
        NativeProvider(unpaired)  # a getter whose memory could not be released
    garbage = tmp_path / "garbage.so"
    garbage.write_bytes(b"not a library")
    with pytest.raises(PluginLoadError, match="dynamic loader refused"):
        NativeProvider(garbage)


def test_der_crl_is_cut_by_its_own_length() -> None:
    # A DER CRL whose last content byte is zero keeps it; the plugin's NUL terminator goes.
    der = bytes([0x30, 0x03, 0x02, 0x01, 0x00])
    assert normalise_crl("pck_crl", der + b"\x00") == der
    long_form = bytes([0x30, 0x81, 0x80]) + bytes(0x80)
    assert normalise_crl("pck_crl", long_form + b"\x00") == long_form
    with pytest.raises(MalformedResponse, match="truncated"):
        normalise_crl("pck_crl", der[:-2])
    assert normalise_crl("pck_crl", b"3082abcd\x00") == b"3082abcd"
