"""Configuration: Intel's keys, file < environment < flags, bad files refused naming the key; schedules."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from pydcap.pccs import CachingMode, ConfigError, RefreshSchedule, load_config
from pydcap.pccs.config import PccsConfig, env_name
from pydcap.pccs.schedule import ScheduleError
from tests.support.testdata import intel_file


def write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_intel_default_json_is_understood(tmp_path: Path) -> None:
    intel_default = {
        "HTTPS_PORT": 8081, "hosts": "127.0.0.1", "uri": "https://api.trustedservices.intel.com/sgx/certification/v4/",
        "ApiKey": "", "proxy": "", "RefreshSchedule": "0 0 1 * * *", "UserTokenHash": "", "AdminTokenHash": "",
        "CachingFillMode": "LAZY", "OPENSSL_FIPS_MODE": False, "LogLevel": "info", "DB_CONFIG": "sqlite",
        "sqlite": {"database": "database", "options": {"dialect": "sqlite", "storage": "pckcache.db"}},
        "mysql": {"database": "pckcache"},
    }  # fmt: skip
    config = load_config(write(tmp_path / "default.json", intel_default), environ={})
    assert config.port == 8081 and config.host == "127.0.0.1"
    assert config.upstream == "https://api.trustedservices.intel.com" and config.api_version == 4
    assert config.mode is CachingMode.LAZY
    assert config.database == str(tmp_path / "pckcache.db")  # relative to the file, as Intel's
    assert config.state_dir == str(tmp_path)


def warned_keys(path: Path) -> tuple[PccsConfig, list[str]]:
    said: list[str] = []
    config = load_config(path, environ={}, warn=said.append)
    return config, [m.split("unknown key ")[1].split("'")[1] for m in said]


def test_intels_current_default_json_unchanged() -> None:
    """Intel's file as shipped: // comments, "MaxRequestBodySize": "2MB", timeouts; nothing refused."""
    path = intel_file("pccs-default.json")
    config, warned = warned_keys(path)
    assert warned == []
    limits = config.limits  # Intel's server timeouts, read as Intel's PCCS reads them
    assert (limits.header_timeout, limits.request_timeout, limits.keep_alive_timeout) == (10, 15, 60)
    assert limits.max_body_bytes == 2 * 1024 * 1024
    assert (config.port, config.host, config.mode, config.log_level) == (8081, "127.0.0.1", CachingMode.LAZY, "info")
    assert config.upstream == "https://api.trustedservices.intel.com" and config.api_version == 4
    assert config.max_request_body == 2 * 1024 * 1024
    assert config.refresh_schedule == "0 0 1 * * *" and config.user_token_hash == config.admin_token_hash == ""
    assert config.database == str(path.parent / "pckcache.db")


def test_intels_legacy_default_json_unchanged() -> None:
    config, warned = warned_keys(intel_file("pccs-default-legacy.json"))
    assert warned == [] and config.mode is CachingMode.LAZY and config.port == 8081


def test_unknown_keys_are_warned_about_and_ignored(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"CachingFillMod": "REQ", "SomeFutureKey": {"a": 1}, "HTTPS_PORT": 9000,}')
    said: list[str] = []
    config = load_config(path, environ={}, warn=said.append)
    assert config.port == 9000 and config.mode is CachingMode.LAZY
    assert said[0] == f"{path}: unknown key 'CachingFillMod' ignored (did you mean 'CachingFillMode'?)"
    assert said[1].startswith(f"{path}: unknown key 'SomeFutureKey' ignored; known keys: ")


def test_comments_and_trailing_commas_as_intels_pccs_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(
        '{\n  // the port\n  "HTTPS_PORT": 9000, /* a "quoted" */\n  "ApiKey": "a//b/*c*/",\n'
        '  "sqlite": {"options": {"storage": "x.db",},},\n}\n'
    )
    config = load_config(path, environ={})
    assert (config.port, config.api_key, config.database) == (9000, "a//b/*c*/", str(tmp_path / "x.db"))
    path.write_text('{\n  "HTTPS_PORT": 9000 /* never closed\n}')
    with pytest.raises(ConfigError, match=r"c.json:2: comment opened with /\* is never closed"):
        load_config(path, environ={})


@pytest.mark.parametrize(
    ("size", "expected"),
    [("2MB", 2 << 20), ("512kb", 512 << 10), ("1.5 GB", 3 << 29), ("100b", 100), ("4096", 4096), (1000, 1000)],
)
def test_sizes_as_intel_writes_them(tmp_path: Path, size: object, expected: int) -> None:
    assert (
        load_config(write(tmp_path / "c.json", {"MaxRequestBodySize": size}), environ={}).max_request_body == expected
    )


@pytest.mark.parametrize("size", ["2M", "lots", 0, True, "-1MB", [2]])
def test_bad_sizes_are_refused(tmp_path: Path, size: object) -> None:
    with pytest.raises(ConfigError, match="MaxRequestBodySize: "):
        load_config(write(tmp_path / "c.json", {"MaxRequestBodySize": size}), environ={})


@pytest.mark.parametrize(
    ("level", "expected"), [("http", "info"), ("verbose", "debug"), ("silly", "debug"), ("warn", "warning")]
)
def test_npm_log_levels(tmp_path: Path, level: str, expected: str) -> None:
    assert load_config(write(tmp_path / "c.json", {"LogLevel": level}), environ={}).log_level == expected


def test_flags_override_environment_override_file(tmp_path: Path) -> None:
    path = write(tmp_path / "c.json", {"HTTPS_PORT": 9000, "CachingFillMode": "REQ", "LogLevel": "warn"})
    env = {env_name("HTTPS_PORT"): "9001", env_name("CachingFillMode"): "offline", env_name("UpstreamTimeout"): "1.5"}
    config = load_config(path, environ=env, overrides={"HTTPS_PORT": 9002})
    assert config.port == 9002
    assert config.mode is CachingMode.OFFLINE
    assert config.upstream_timeout == 1.5
    assert config.log_level == "warning"
    assert env_name("CachingFillMode") == "PYDCAP_PCCS_CACHING_FILL_MODE"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"HTTPS_PORT": "eighty"}, "HTTPS_PORT: 'eighty' is not a whole number"),
        ({"HTTPS_PORT": 70000}, "HTTPS_PORT: 70000 is not a TCP port"),
        ({"CachingFillMode": "EAGER"}, "CachingFillMode: 'EAGER' is not LAZY, REQ or OFFLINE"),
        ({"AdminTokenHash": "abc"}, "AdminTokenHash: must be the SHA-512"),
        ({"RefreshSchedule": "0 0 25 * * *"}, "RefreshSchedule: hour: '25' is outside 0-23"),
        ({"RefreshSchedule": "0 0 0 31 2 *"}, "RefreshSchedule: the schedule '0 0 0 31 2 *' never fires"),
        ({"uri": "ftp://x"}, "uri: 'ftp://x' is not an http(s) URL"),
        ({"uri": "https://x/sgx/certification/v2/"}, "uri: API version v2 is not supported"),
        ({"DB_CONFIG": "mysql"}, "DB_CONFIG: only sqlite"),
        ({"OPENSSL_FIPS_MODE": True}, "OPENSSL_FIPS_MODE: FIPS mode is not supported"),
        ({"TlsCertFile": "cert.pem"}, "TlsCertFile and TlsKeyFile go together"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_bad_configuration_names_the_key_and_reason(tmp_path: Path, document: object, message: str) -> None:
    path = write(tmp_path / "bad.json", document)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert message in str(info.value)


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="environment variable PYDCAP_PCCS_WORKERS: Workers: must be at least 1"):
        load_config(None, environ={"PYDCAP_PCCS_WORKERS": "0"})


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.json", environ={})
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ConfigError, match=r"broken\.json:1: not JSON"):
        load_config(tmp_path / "broken.json", environ={})


def test_config_round_trips_to_worker_processes() -> None:
    config = PccsConfig(mode=CachingMode.REQ, port=1234, workers=2)
    assert PccsConfig.from_json(config.to_json()) == config


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()  # local time, as cron


def test_intel_default_schedule_fires_daily_at_one() -> None:
    schedule = RefreshSchedule.parse("0 0 1 * * *")
    assert schedule.next_after(ts("2025-03-04 00:59:59")) == ts("2025-03-04 01:00:00")
    assert schedule.next_after(ts("2025-03-04 01:00:00")) == ts("2025-03-05 01:00:00")


def test_schedule_fields() -> None:
    assert RefreshSchedule.parse("*/15 * * * *").next_after(ts("2025-03-04 10:07:30")) == ts("2025-03-04 10:15:00")
    # Sunday 03:30, as 0 or 7
    for dow in ("0", "7"):
        assert RefreshSchedule.parse(f"0 30 3 * * {dow}").next_after(ts("2025-03-04 00:00:00")) == ts(
            "2025-03-09 03:30:00"
        )
    assert RefreshSchedule.parse("0 0 0 1,15 * *").next_after(ts("2025-03-02 00:00:00")) == ts("2025-03-15 00:00:00")
    assert RefreshSchedule.parse("0 0 12 1-3 6 *").next_after(ts("2025-07-01 00:00:00")) == ts("2026-06-01 12:00:00")
    with pytest.raises(ValueError, match="never fires"):
        RefreshSchedule.parse("0 0 0 31 2 *").next_after(ts("2025-01-01 00:00:00"))


@pytest.mark.parametrize("text", ["* * *", "0 0 1 * * * *", "a * * * * *", "0 */0 * * * *", "0 5-1 * * * *"])
def test_bad_schedules(text: str) -> None:
    with pytest.raises(ScheduleError):
        RefreshSchedule.parse(text)


def test_the_upstream_request_budget_and_the_negative_ttl_are_configurable(tmp_path: Path) -> None:
    path = write(tmp_path / "c.json", {"UpstreamRateLimit": 2.5, "UpstreamBurst": 40, "NotFoundCacheSeconds": 60})
    config = load_config(path, environ={env_name("UpstreamBurst"): "30"})
    assert (config.upstream_rate, config.upstream_burst, config.not_found_ttl) == (2.5, 30, 60.0)
    assert (PccsConfig().upstream_rate, PccsConfig().upstream_burst) == (10.0, 100)
    for document, message in (
        ({"UpstreamRateLimit": 0}, "UpstreamRateLimit: 0.0 requests per second is out of range"),
        ({"UpstreamRateLimit": "fast"}, "UpstreamRateLimit: 'fast' is not a number of requests per second"),
        ({"UpstreamBurst": 0}, "UpstreamBurst: must be at least 1"),
    ):
        with pytest.raises(ConfigError, match=message):
            load_config(write(tmp_path / "bad.json", document), environ={})
