"""QCNL configuration: an example exercising every key in the shape of Intel's shipped file, Intel's own
shipped files (from the shared test data), the legacy KEY=VALUE form, and broken files (line and key)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pydcap.provider.errors import ProviderConfigError
from pydcap.provider.qcnl.config import (
    DEFAULT_PCCS_URL,
    QcnlConfig,
    config_path,
    load_qcnl_config,
    parse_qcnl_config,
)
from tests.support.testdata import intel_file

# Written for these tests in the shape of Intel's sgx_default_qcnl.conf: leading commas, // comments,
# a /* block */ comment, and every key QCNL reads.
EVERY_KEY = """{
  // Keys are case sensitive.
  "pccs_url": "https://pccs.example.test:8081/sgx/certification/v4/"

  // false accepts a self-signed PCCS certificate
  ,"use_secure_cert": false

  /* Collateral from somewhere else than PCK certificates.
     "collateral_service": "ignored inside a comment" */
  ,"collateral_service": "https://collateral.example.test/sgx/certification/v4/"
  ,"tcb_update_type": "Early"
  ,"pccs_api_version": "3.1"
  ,"retry_times": 6
  ,"retry_delay": 10
  ,"local_pck_url": "http://169.254.169.254/metadata/THIM/sgx/certification/v4/"
  ,"pck_cache_expire_hours": 168
  ,"verify_collateral_cache_expire_hours": 5000.5
  ,"local_cache_only": true
  ,"custom_request_options" : {
    "get_cert" : {
      "headers": { "metadata": "true" },
      "params": { "api-version": "2021-07-22-preview", "note": "a // inside a string is kept" }
    }
  }
}
"""

INTEL_FILES = ["", "_azure", "_dev", "_intelpcs", "_without_pccs"]


def test_every_key_of_the_example() -> None:
    c = parse_qcnl_config(EVERY_KEY, "example.conf")
    assert c.format == "json" and c.source == "example.conf"
    assert c.pccs_url == "https://pccs.example.test:8081/sgx/certification/v4/"
    assert c.use_secure_cert is False
    assert c.collateral_service == "https://collateral.example.test/sgx/certification/v4/"
    assert c.collateral_url == c.collateral_service
    assert c.tcb_update_type == "early"
    assert c.pccs_api_version == "3.1" and c.collateral_version == (3, 1)
    assert (c.retry_times, c.retry_delay) == (6, 10)
    assert c.retry_delays() == [10.0] * 6
    assert c.local_pck_url.startswith("http://169.254.169.254/")
    assert c.pck_cache_expire_hours == 168 and c.pck_cache_seconds == 168 * 3600
    assert c.verify_collateral_cache_expire_hours == 2160  # capped, and the cap is said
    assert c.notes == (
        "verify_collateral_cache_expire_hours 5000.5 is capped at 2160 hours (90 days), as Intel's QCNL does",
    )
    assert c.local_cache_only is True
    assert dict(c.get_cert_headers) == {"metadata": "true"}
    assert dict(c.get_cert_params) == {"api-version": "2021-07-22-preview", "note": "a // inside a string is kept"}
    assert c.crls_as_der and c.root_ca_crl_route == "crl"
    assert c.tdx_collateral_url == "https://collateral.example.test/tdx/certification/v4/"
    assert len(c.keys_set) == 12
    assert c.to_dict()["effects"]["collateral_version"] == "3.1"


def test_defaults_are_intels() -> None:
    c = QcnlConfig()
    assert c.pccs_url == DEFAULT_PCCS_URL == "https://localhost:8081/sgx/certification/v4/"
    assert c.use_secure_cert and c.collateral_url == c.pccs_url
    assert (c.tcb_update_type, c.pccs_api_version, c.retry_times, c.retry_delay) == ("standard", "3.0", 0, 0)
    assert (c.local_pck_url, c.pck_cache_expire_hours, c.verify_collateral_cache_expire_hours) == ("", 0, 0)
    assert not c.local_cache_only and not c.crls_as_der and c.root_ca_crl_route == "rootcacrl"
    assert c.collateral_version == (3, 0)
    assert replace_retry(3, 0).retry_delays() == [1.0, 2.0, 4.0]  # exponential when the delay is 0


def replace_retry(times: int, delay: int) -> QcnlConfig:
    return parse_qcnl_config(f'{{"retry_times": {times}, "retry_delay": {delay}}}')


def test_intel_pcs_forces_der_and_the_cdp_route() -> None:
    c = parse_qcnl_config('{"collateral_service": "https://api.trustedservices.intel.com/sgx/certification/v4/"}')
    assert c.pccs_url == DEFAULT_PCCS_URL
    assert c.collateral_is_intel_pcs and c.crls_as_der and c.root_ca_crl_route == "cdp"
    assert c.collateral_version == (3, 0)  # the structure version still follows pccs_api_version


def test_pccs_url_without_collateral_service_serves_both() -> None:
    c = parse_qcnl_config('{"pccs_url": "https://pccs.test/sgx/certification/v3/"}')
    assert c.collateral_url == "https://pccs.test/sgx/certification/v3/"
    assert parse_qcnl_config('{"pccs_url": "https://pccs.test/certification/"}').tdx_collateral_url is None


@pytest.mark.parametrize("suffix", [s for s in INTEL_FILES if s != "_intelpcs"])
def test_intels_shipped_files(suffix: str) -> None:
    c = load_qcnl_config(intel_file(f"sgx_default_qcnl{suffix}.conf"))
    assert c.format == "json" and c.keys_set
    if suffix == "":
        assert (c.pccs_url, c.use_secure_cert, c.retry_times, c.retry_delay) == (DEFAULT_PCCS_URL, True, 6, 10)
        assert (c.pck_cache_expire_hours, c.verify_collateral_cache_expire_hours, c.local_cache_only) == (
            168,
            168,
            False,
        )
        assert c.collateral_service is None  # commented out in the shipped file
    if suffix == "_azure":
        assert c.pccs_url.startswith("https://global.acccache.azure.net/")


def test_intels_shipped_intelpcs_sample_lacks_a_comma() -> None:
    """Intel's library fails to parse this sample too, logs a JSON error and runs on its defaults (its legacy
    parser finds no KEY=VALUE line); pydcap refuses it, naming the line, instead of silently ignoring it."""
    path = intel_file("sgx_default_qcnl_intelpcs.conf")
    with pytest.raises(ProviderConfigError, match=r"intelpcs\.conf:15: collateral_service: expected ','"):
        load_qcnl_config(path)


def test_legacy_format() -> None:
    text = """# legacy QCNL configuration
PCCS_URL = https://pccs.example.test:8081/sgx/certification/v3/
USE_SECURE_CERT=FALSE
COLLATERAL_SERVICE=https://api.trustedservices.intel.com/sgx/certification/v3/
PCCS_API_VERSION=3.1
RETRY_TIMES=3
RETRY_DELAY=0
LOCAL_PCK_URL=http://localhost:8081/sgx/certification/v3/
PCK_CACHE_EXPIRE_HOURS=9999
VERIFY_COLLATERAL_CACHE_EXPIRE_HOURS=24
LOCAL_CACHE_ONLY=true
"""
    c = parse_qcnl_config(text, "legacy.conf")
    assert c.format == "legacy"
    assert c.pccs_url == "https://pccs.example.test:8081/sgx/certification/v3/"
    assert not c.use_secure_cert and c.collateral_is_intel_pcs and c.pccs_api_version == "3.1"
    assert (c.retry_times, c.retry_delays()) == (3, [1.0, 2.0, 4.0])
    assert c.local_pck_url == "http://localhost:8081/sgx/certification/v3/"
    assert (c.pck_cache_expire_hours, c.verify_collateral_cache_expire_hours) == (2160, 24)
    assert c.local_cache_only and len(c.keys_set) == 10
    assert any("PCK_CACHE_EXPIRE_HOURS".lower() in n for n in c.notes)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    missing = load_qcnl_config(tmp_path / "absent.conf")
    assert missing == QcnlConfig(notes=missing.notes) and "Intel's defaults apply" in missing.notes[0]
    empty = tmp_path / "empty.conf"
    empty.write_text("\n# nothing\n")
    assert load_qcnl_config(empty).notes == (f"{empty} sets nothing: Intel's defaults apply",)


def test_path_from_environment_and_sysroot(tmp_path: Path) -> None:
    assert config_path({"QCNL_CONF_PATH": "/opt/qcnl.conf"}) == Path("/opt/qcnl.conf")
    assert config_path({"PYDCAP_SYSROOT": str(tmp_path)}) == tmp_path / "etc" / "sgx_default_qcnl.conf"
    assert config_path({}) == Path("/etc/sgx_default_qcnl.conf")


BROKEN = [
    # (file, line, key, reason fragment)
    (
        '{\n  "pccs_url": "https://p.test/sgx/certification/v4/"\n  "use_secure_cert": true\n}',
        3,
        "pccs_url",
        "expected ',' or '}'",
    ),
    ('{\n "use_secure_cert": "false"\n}', 2, "use_secure_cert", "must be true or false, not the string 'false'"),
    ('{\n "pccs_ulr": "https://p.test/"\n}', 2, "pccs_ulr", "did you mean 'pccs_url'?"),
    ('{\n "retry_times": -1\n}', 2, "retry_times", "out of range"),
    ('{\n "retry_delay": 1.5\n}', 2, "retry_delay", "must be a whole number"),
    ('{\n\n "tcb_update_type": "latest"\n}', 3, "tcb_update_type", 'must be "standard" or "early"'),
    ('{\n "pccs_api_version": 3.1\n}', 2, "pccs_api_version", 'must be "3.0" or "3.1" (a string)'),
    ('{\n "pccs_url": "https://p.test/sgx/certification/v4"\n}', 2, "pccs_url", "must end with '/'"),
    ('{\n "collateral_service": "ftp://p.test/"\n}', 2, "collateral_service", "not an http:// or https:// URL"),
    ('{\n "pck_cache_expire_hours": "168"\n}', 2, "pck_cache_expire_hours", "must be a number of hours"),
    ('{\n "local_cache_only": 1\n}', 2, "local_cache_only", "must be true or false"),
    ('{\n "retry_times": 1,\n "retry_times": 2\n}', 3, "retry_times", "duplicate key (first set on line 2)"),
    ('{\n "retry_times": 1,\n}', 3, "retry_times", "trailing comma"),
    ('{\n "custom_request_options": {"get_cert": {"header": {}}}\n}', 2, "custom_request_options", "get_cert.header"),
    (
        '{\n "custom_request_options": {"get_cert": {"params": {"n": 1}}}\n}',
        2,
        "custom_request_options",
        "get_cert.params.n must be a string",
    ),
    ('{\n /* unclosed\n "retry_times": 1\n}', 2, None, "never closed"),
    ('{\n "retry_times": 1\n}\n}', 4, None, "unexpected text after the closing"),
    ('{\n "retry_times": tru\n}', 2, "retry_times", "invalid JSON value"),
    ('{\n "retry_times": 1', 2, "retry_times", "expected ',' or '}' after the value, found the end of the file"),
    ("PCCS_URL=https://p.test/sgx/certification/v4/\nRETRY_TIMES=six\n", 2, "RETRY_TIMES", "whole number"),
    ("USE_SECURE_CERT=no\n", 1, "USE_SECURE_CERT", "must be TRUE, true, FALSE or false"),
    ("# legacy\nPCCS_URL https://p.test/\n", 2, None, "expected KEY=VALUE"),
    ("PCCS_URI=https://p.test/\n", 1, "PCCS_URI", "did you mean 'PCCS_URL'?"),
    ("TCB_UPDATE_TYPE=early\n", 1, "TCB_UPDATE_TYPE", "only the JSON format supports this setting"),
    ("RETRY_TIMES=1\nRETRY_TIMES=2\n", 2, "RETRY_TIMES", "duplicate key"),
]


@pytest.mark.parametrize(("text", "line", "key", "reason"), BROKEN)
def test_broken_files_name_line_and_key(text: str, line: int, key: str | None, reason: str, tmp_path: Path) -> None:
    path = tmp_path / "sgx_default_qcnl.conf"
    path.write_text(text)
    with pytest.raises(ProviderConfigError) as info:
        load_qcnl_config(path)
    error = info.value
    assert (error.line, error.key) == (line, key)
    assert reason in error.reason
    assert str(error).startswith(f"{path}:{line}: " + (f"{key}: " if key else ""))


def test_unreadable_files(tmp_path: Path) -> None:
    binary = tmp_path / "binary.conf"
    binary.write_bytes(b'{"pccs_url": "\xff"}')
    with pytest.raises(ProviderConfigError, match="not UTF-8"):
        load_qcnl_config(binary)
    with pytest.raises(ProviderConfigError, match="cannot read"):
        load_qcnl_config(tmp_path)  # a directory
