"""The PCCS configuration: Intel's ``default.json`` keys where they mean the same, plus pydcap's own
(database URL, TLS files, trust root, upstream timeout). Defaults < file < ``PYDCAP_PCCS_*`` environment
< command-line flags; a bad value is refused with the key, where it came from and why. The file is read as
Intel writes it (comments, sizes such as ``"2MB"``); a key pydcap does not know is warned about and ignored.
"""

from __future__ import annotations

import difflib
import enum
import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from pydcap.pccs.schedule import RefreshSchedule, ScheduleError
from pydcap.serving import ServerLimits
from pydcap.serving import values as read
from pydcap.serving.logs import LOG_FORMATS
from pydcap.serving.values import ConfigError, read_config_file
from pydcap.sources.defaults import INTEL_PCS_URL
from pydcap.sources.intel_api import split_api_url

log = logging.getLogger("pydcap.pccs")

ENV_PREFIX = "PYDCAP_PCCS_"
DEFAULT_DB_NAME = "pckcache.sqlite3"
_LIMITS = ServerLimits()


class CachingMode(enum.StrEnum):
    """Intel's ``CachingFillMode``: what a miss does."""

    LAZY = "LAZY"  # fetch from the upstream on a miss
    REQ = "REQ"  # fetch when a platform registers; misses never go upstream
    OFFLINE = "OFFLINE"  # never go upstream: collateral is imported

    @property
    def refreshable(self) -> bool:
        return self is not CachingMode.OFFLINE


def default_state_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "pydcap" / "pccs"


@dataclass(frozen=True)
class PccsConfig:
    """Everything ``pydcap pccs serve`` needs. ``upstream`` is the PCS root URL (``api_version`` is the one
    ``uri`` named, informative only: v3 paths are served from PCS v3, v4 paths from PCS v4)."""

    host: str = "127.0.0.1"
    port: int = 8081
    upstream: str = INTEL_PCS_URL
    api_version: int = 4
    api_key: str = ""
    proxy: str = ""
    refresh_schedule: str = "0 0 1 * * *"
    user_token_hash: str = ""
    admin_token_hash: str = ""
    mode: CachingMode = CachingMode.LAZY
    log_level: str = "info"
    log_format: str = "auto"
    database: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    root_ca: str = ""
    upstream_ca: str = ""
    insecure_http: bool = False
    upstream_timeout: float = 3.0
    # Upstream requests of misses (new FMSPCs and platforms): a token bucket of this rate and burst; over it a
    # miss answers 503 with Retry-After instead of asking Intel. A 404 from the upstream is the answer for
    # not_found_ttl seconds.
    upstream_rate: float = 10.0
    upstream_burst: int = 100
    not_found_ttl: float = 600.0
    refresh_before_next_update: float = 86_400.0
    max_request_body: int = 8 * 1024 * 1024
    # Complete answers kept ready to send again (the fast path), in bytes: a TCB info with its issuer chain is
    # 10-100 KB, a PCK certificate's answer a few; 32 MiB holds those of thousands of platforms.
    prepared_answer_bytes: int = 32 * 1024 * 1024
    # What one client may cost the server (pydcap.serving.ServerLimits; its defaults).
    headers_timeout: float = _LIMITS.header_timeout
    request_timeout: float = _LIMITS.request_timeout
    keep_alive_timeout: float = _LIMITS.keep_alive_timeout
    max_connections: int = _LIMITS.max_connections
    max_connections_per_client: int = _LIMITS.max_connections_per_client
    max_header_size: int = _LIMITS.max_header_bytes
    workers: int = 1
    state_dir: str = field(default_factory=lambda: str(default_state_dir()))

    @property
    def schedule(self) -> RefreshSchedule:
        return RefreshSchedule.parse(self.refresh_schedule)

    @property
    def limits(self) -> ServerLimits:
        return ServerLimits(
            header_timeout=self.headers_timeout,
            request_timeout=self.request_timeout,
            keep_alive_timeout=self.keep_alive_timeout,
            max_connections=self.max_connections,
            max_connections_per_client=self.max_connections_per_client,
            max_header_bytes=self.max_header_size,
            max_body_bytes=self.max_request_body,
        )

    @property
    def database_target(self) -> str:
        """The store location: the configured path or URL, else ``pckcache.sqlite3`` in the state directory."""
        return self.database or str(Path(self.state_dir) / DEFAULT_DB_NAME)

    @property
    def scheme(self) -> str:
        return "http" if self.insecure_http else "https"

    def to_json(self) -> str:
        """For handing the configuration to worker processes (``from_json`` reads it back)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["mode"] = self.mode.value
        return json.dumps(values)

    @classmethod
    def from_json(cls, text: str) -> PccsConfig:
        values = json.loads(text)
        values["mode"] = CachingMode(values["mode"])
        return cls(**values)


# ---- parsing one value ------------------------------------------------------------------------------


def _port(value: Any) -> int:
    number = read.whole_number(value)
    if not 0 <= number <= 65535:
        raise ValueError(f"{number} is not a TCP port (0-65535)")
    return number


def _positive_int(value: Any) -> int:
    number = read.whole_number(value)
    if number < 1:
        raise ValueError("must be at least 1")
    return number


def _count(value: Any) -> int:
    number = read.whole_number(value)
    if number < 0:
        raise ValueError("must be 0 (no limit of its own) or more")
    return number


def _seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("must be a number of seconds")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number of seconds") from None
    if not 0 < number <= 86_400 * 365:
        raise ValueError(f"{number} seconds is out of range")
    return number


def _rate(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("must be a number of requests per second")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number of requests per second") from None
    if not 0 < number <= 1_000_000:
        raise ValueError(f"{number} requests per second is out of range (more than 0)")
    return number


def _hosts(value: Any) -> str:
    text = read.text(value)
    if not text or any(c.isspace() for c in text):
        raise ValueError("must be one address or host name (e.g. 127.0.0.1, 0.0.0.0, ::)")
    return text


def _upstream(value: Any) -> tuple[str, int]:
    text = read.text(value)
    root, version = split_api_url(text)
    if not root.startswith(("http://", "https://")):
        raise ValueError(f"{text!r} is not an http(s) URL")
    if version is not None and version not in (3, 4):
        raise ValueError(f"API version v{version} is not supported (v3 or v4)")
    return root, version or 4


def _mode(value: Any) -> CachingMode:
    text = read.text(value).upper()
    try:
        return CachingMode(text)
    except ValueError:
        raise ValueError(f"{value!r} is not LAZY, REQ or OFFLINE") from None


# Intel's PCCS takes npm's log levels; each maps to the nearest of Python's.
_LOG_LEVELS = {
    "error": "error",
    "warn": "warning",
    "warning": "warning",
    "info": "info",
    "http": "info",
    "verbose": "debug",
    "debug": "debug",
    "silly": "debug",
}


def _log_level(value: Any) -> str:
    text = read.text(value).lower()
    if text not in _LOG_LEVELS:
        raise ValueError(f"{value!r} is not error, warn, info, http, verbose, debug or silly")
    return _LOG_LEVELS[text]


# Sizes as Intel's PCCS reads them (Node's ``bytes``: "2MB", "512kb", "1.5 GB"; units of 1024).
_SIZE = re.compile(r"(\d+(?:\.\d+)?) *(b|kb|mb|gb|tb)?", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40}


def _size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f'{value!r} is not a size (a number of bytes, or e.g. "2MB")')
    if isinstance(value, str):
        match = _SIZE.fullmatch(value.strip())
        if match is None:
            raise ValueError(f'{value!r} is not a size: a number of bytes, or one with KB, MB or GB (e.g. "2MB")')
        number = int(float(match.group(1)) * _UNITS[(match.group(2) or "b").lower()])
    else:
        number = int(value)
    if number < 1:
        raise ValueError("must be at least 1 byte")
    return number


def _log_format(value: Any) -> str:
    text = read.text(value).lower()
    if text not in LOG_FORMATS:
        raise ValueError(f"{value!r} is not {', '.join(LOG_FORMATS[:-1])} or {LOG_FORMATS[-1]}")
    return text


def _schedule(value: Any) -> str:
    text = read.text(value)
    try:
        RefreshSchedule.parse(text).next_after(time.time())  # "0 0 0 31 2 *" parses, but never fires
    except ScheduleError as exc:
        raise ValueError(str(exc)) from None
    return text


def _fips(value: Any, _base: Path | None) -> dict[str, Any]:
    if read.flag(value):
        raise ValueError("FIPS mode is not supported by pydcap's PCCS; remove the key or set it to false")
    return {}


def _db_config(value: Any, _base: Path | None) -> dict[str, Any]:
    if read.text(value).lower() != "sqlite":
        raise ValueError("only sqlite (DatabaseUrl for PostgreSQL) is supported; MySQL is not")
    return {}


Setter = Callable[[Any, Path | None], dict[str, Any]]


def _path_setter(attr: str) -> Setter:
    def setter(value: Any, base: Path | None) -> dict[str, Any]:
        text = read.text(value)
        if text and "://" not in text and base is not None and not Path(text).expanduser().is_absolute():
            text = str(base / text)
        return {attr: text}

    return setter


def _simple(attr: str, parse: Callable[[Any], Any]) -> Setter:
    return lambda value, _base: {attr: parse(value)}


def _sqlite_section(value: Any, base: Path | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("must be an object like Intel's {'options': {'storage': 'pckcache.db'}}")
    storage = value.get("options", {}).get("storage") if isinstance(value.get("options"), dict) else None
    return _path_setter("database")(storage, base) if isinstance(storage, str) and storage else {}


def _upstream_setter(value: Any, _base: Path | None) -> dict[str, Any]:
    root, version = _upstream(value)
    return {"upstream": root, "api_version": version}


KEYS: Mapping[str, Setter] = {
    "HTTPS_PORT": _simple("port", _port),
    "hosts": _simple("host", _hosts),
    "uri": _upstream_setter,
    "ApiKey": _simple("api_key", read.text),
    "proxy": _simple("proxy", read.text),
    "RefreshSchedule": _simple("refresh_schedule", _schedule),
    "UserTokenHash": _simple("user_token_hash", read.token_hash),
    "AdminTokenHash": _simple("admin_token_hash", read.token_hash),
    "CachingFillMode": _simple("mode", _mode),
    "LogLevel": _simple("log_level", _log_level),
    "LogFormat": _simple("log_format", _log_format),
    "MaxRequestBodySize": _simple("max_request_body", _size),
    "PreparedAnswerCacheSize": _simple("prepared_answer_bytes", _size),
    "DatabaseUrl": _path_setter("database"),
    "TlsCertFile": _path_setter("tls_cert"),
    "TlsKeyFile": _path_setter("tls_key"),
    "RootCaFile": _path_setter("root_ca"),
    "UpstreamCaFile": _path_setter("upstream_ca"),
    "InsecureHttp": _simple("insecure_http", read.flag),
    "UpstreamTimeout": _simple("upstream_timeout", _seconds),
    "UpstreamRateLimit": _simple("upstream_rate", _rate),
    "UpstreamBurst": _simple("upstream_burst", _positive_int),
    "NotFoundCacheSeconds": _simple("not_found_ttl", _seconds),
    "RefreshBeforeNextUpdate": _simple("refresh_before_next_update", _seconds),
    "Workers": _simple("workers", _positive_int),
    "HeadersTimeoutSeconds": _simple("headers_timeout", _seconds),
    "RequestTimeoutSeconds": _simple("request_timeout", _seconds),
    "KeepAliveTimeoutSeconds": _simple("keep_alive_timeout", _seconds),
    "MaxConnections": _simple("max_connections", _positive_int),
    "MaxConnectionsPerClient": _simple("max_connections_per_client", _count),
    "MaxHeaderSize": _simple("max_header_size", _positive_int),
    # Intel keys accepted for compatibility: the SQLite file name is used, the rest is checked.
    "sqlite": _sqlite_section,
    "DB_CONFIG": _db_config,
    "OPENSSL_FIPS_MODE": _fips,
    "mysql": lambda _value, _base: {},
}


def env_name(key: str) -> str:
    """``CachingFillMode`` -> ``PYDCAP_PCCS_CACHING_FILL_MODE``; ``HTTPS_PORT`` -> ``PYDCAP_PCCS_HTTPS_PORT``."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key)
    return ENV_PREFIX + snake.upper()


def unknown_key(key: str, origin: str, outcome: str = "") -> str:
    """What is said of a key pydcap does not know (with the nearest known key, as a typo is likely)."""
    close = difflib.get_close_matches(key, list(KEYS), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else f"; known keys: {', '.join(sorted(KEYS))}"
    return f"{origin}: unknown key {key!r}{outcome}{hint}"


def _apply(values: dict[str, Any], key: str, value: Any, origin: str, base: Path | None) -> None:
    setter = KEYS.get(key)
    if setter is None:
        raise ConfigError(unknown_key(key, origin))
    try:
        values.update(setter(value, base))
    except ValueError as exc:
        raise ConfigError(f"{origin}: {key}: {exc}") from None


def load_config(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    warn: Callable[[str], None] | None = None,
) -> PccsConfig:
    """The configuration from ``path`` (Intel's ``default.json``, as Intel writes it), then ``PYDCAP_PCCS_*``
    variables, then ``overrides`` (JSON key names, as the command line gives them). A key of the file that pydcap
    does not know (one of a newer Intel PCCS, or a typo) is reported to ``warn`` (default: the log) and ignored,
    as Intel's PCCS ignores keys it does not read; a bad value of a known key is a ``ConfigError``."""
    values: dict[str, Any] = {}
    base: Path | None = None
    if path is not None:
        file = Path(path).expanduser()
        document = read_config_file(file)
        base = file.resolve().parent
        values["state_dir"] = str(base)
        for key, value in document.items():
            if key not in KEYS:
                (warn or log.warning)(unknown_key(key, str(file), " ignored"))
                continue
            _apply(values, key, value, str(file), base)
    env = os.environ if environ is None else environ
    for key in KEYS:
        name = env_name(key)
        if name in env:
            _apply(values, key, env[name], f"environment variable {name}", Path.cwd())
    for key, value in (overrides or {}).items():
        if value is not None:
            _apply(values, key, value, "command line", Path.cwd())
    config = replace(PccsConfig(), **values)
    if bool(config.tls_cert) != bool(config.tls_key):
        raise ConfigError("TlsCertFile and TlsKeyFile go together: give both, or neither for a self-signed one")
    return config
