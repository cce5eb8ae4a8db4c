"""The attestation service's configuration: defaults < JSON file (keys as below) < ``PYDCAP_ATTEST_*`` environment
(``PYDCAP_ATTEST_ADMIN_TOKEN_HASH``) < command-line flags. A bad value is refused naming the key, where it came
from and why.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from pydcap.serving import values as read
from pydcap.serving.values import ConfigError
from pydcap.sources.defaults import INTEL_PCS_URL

ENV_PREFIX = "PYDCAP_ATTEST_"
# Without a database, the service uses the PCCS's default store (``pydcap pccs serve``'s), so that on one machine
# the two share their verified collateral; the test suite checks that the two defaults stay the same.
DEFAULT_DB_NAME = "pckcache.sqlite3"
ALGORITHMS = ("RS256", "ES256")
SOURCES = ("pcs", "pccs", "azure")
_TENANT = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def default_state_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "pydcap" / "pccs"


@dataclass(frozen=True)
class AttestConfig:
    """Everything ``pydcap attest serve`` needs. ``source`` says what ``upstream`` is (Intel PCS or anything
    speaking its API, a PCCS, or Azure's cache); ``issuer`` defaults to this server's own URL; ``tenants`` are the
    instances served under ``/tenants/NAME`` beside the default one at the root."""

    host: str = "127.0.0.1"
    port: int = 8443
    issuer: str = ""
    source: str = "pcs"
    upstream: str = INTEL_PCS_URL
    upstream_ca: str = ""  # a PEM file trusted for the upstream's HTTPS (a PCCS's self-signed certificate)
    api_key: str = ""
    database: str = ""
    root_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    insecure_http: bool = False
    workers: int = 1
    admin_token_hash: str = ""
    algorithm: str = "RS256"
    token_lifetime: int = 8 * 3600
    tenants: tuple[str, ...] = ()
    max_request_body: int = 1024 * 1024
    upstream_timeout: float = 10.0
    log_level: str = "info"
    state_dir: str = field(default_factory=lambda: str(default_state_dir()))

    @property
    def database_target(self) -> str:
        return self.database or str(Path(self.state_dir) / DEFAULT_DB_NAME)

    @property
    def scheme(self) -> str:
        return "http" if self.insecure_http else "https"

    def url(self, port: int | None = None) -> str:
        """This server's own root URL (loopback when it listens on every address)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else "::1" if self.host == "::" else self.host
        host = f"[{host}]" if ":" in host else host
        return f"{self.scheme}://{host}:{self.port if port is None else port}"

    def issuer_url(self, port: int | None = None) -> str:
        return (self.issuer or self.url(port)).rstrip("/")

    def to_json(self) -> str:
        return json.dumps({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_json(cls, text: str) -> AttestConfig:
        values = json.loads(text)
        values["tenants"] = tuple(values["tenants"])
        return cls(**values)


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        number = read.whole_number(value)
        if not low <= number <= high:
            raise ValueError(f"{number} is not a whole number from {low} to {high}")
        return number

    return parse


def _seconds(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number of seconds") from None
    if isinstance(value, bool) or not 0 < number <= 3600:
        raise ValueError(f"{value!r} is not a number of seconds from 0 to 3600")
    return number


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = read.text(value)
        if text not in options:
            raise ValueError(f"{text!r} is not one of {', '.join(options)}")
        return text

    return parse


def _url(value: Any) -> str:
    text = read.text(value)
    if not text.startswith(("http://", "https://")):
        raise ValueError(f"{text!r} is not an http(s) URL")
    return text.rstrip("/")


def _optional_url(value: Any) -> str:
    return _url(value) if read.text(value) else ""


def _tenants(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("must be a list of names (or a comma-separated string)")
    names = tuple(str(item).strip() for item in items if str(item).strip())
    for name in names:
        if not _TENANT.match(name):
            raise ValueError(f"tenant {name!r} is not a name of lower-case letters, digits and dashes (at most 63)")
    return names


KEYS: Mapping[str, Callable[[Any], Any]] = {
    "host": read.text,
    "port": _integer(0, 65535),
    "issuer": _optional_url,
    "source": _choice(SOURCES),
    "upstream": _url,
    "upstream_ca": read.text,
    "api_key": read.text,
    "database": read.text,
    "root_ca": read.text,
    "tls_cert": read.text,
    "tls_key": read.text,
    "insecure_http": read.flag,
    "workers": _integer(1, 64),
    "admin_token_hash": read.token_hash,
    "algorithm": _choice(ALGORITHMS),
    "token_lifetime": _integer(60, 7 * 86400),
    "tenants": _tenants,
    "max_request_body": _integer(1024, 64 * 1024 * 1024),
    "upstream_timeout": _seconds,
    "log_level": _choice(("error", "warning", "info", "debug")),
}
_PATHS = ("database", "root_ca", "tls_cert", "tls_key", "upstream_ca")


def _apply(values: dict[str, Any], key: str, value: Any, origin: str, base: Path | None) -> None:
    parse = KEYS.get(key)
    if parse is None:
        raise ConfigError(f"{origin}: unknown key {key!r}; known keys: {', '.join(sorted(KEYS))}")
    try:
        parsed = parse(value)
    except ValueError as exc:
        raise ConfigError(f"{origin}: {key}: {exc}") from None
    if key in _PATHS and parsed and "://" not in parsed and base is not None:
        parsed = str(base / Path(parsed).expanduser())
    values[key] = parsed


def load_config(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> AttestConfig:
    """The configuration from ``path`` (a JSON object of the keys above), then ``PYDCAP_ATTEST_*`` variables,
    then ``overrides`` (from the command line; None values are ignored)."""
    values: dict[str, Any] = {}
    if path is not None:
        file = Path(path).expanduser()
        document = read.read_config_file(file)
        values["state_dir"] = str(file.resolve().parent)
        for key, value in document.items():
            _apply(values, key, value, str(file), file.resolve().parent)
    env = os.environ if environ is None else environ
    for key in KEYS:
        name = ENV_PREFIX + key.upper()
        if name in env:
            _apply(values, key, env[name], f"environment variable {name}", Path.cwd())
    for key, value in (overrides or {}).items():
        if value is not None:
            _apply(values, key, value, "command line", Path.cwd())
    config = replace(AttestConfig(), **values)
    if bool(config.tls_cert) != bool(config.tls_key):
        raise ConfigError("tls_cert and tls_key go together: give both, or neither for a self-signed certificate")
    return config
