"""Intel's QCNL configuration (``/etc/sgx_default_qcnl.conf`` or ``$QCNL_CONF_PATH``), read strictly.

JSON with ``//`` and ``/* */`` comments, or the legacy ``KEY=VALUE`` lines when the file does not start with
``{``. Defaults and effects are Intel's; unlike Intel's library, a broken file is refused with its line and key.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydcap.jsonc import CommentError, line_of, strip_comments
from pydcap.provider.discovery import system_root, under_root
from pydcap.provider.errors import ProviderConfigError

DEFAULT_PATH = "/etc/sgx_default_qcnl.conf"
PATH_ENV = "QCNL_CONF_PATH"
DEFAULT_PCCS_URL = "https://localhost:8081/sgx/certification/v4/"
CACHE_MAX_EXPIRY_HOURS = 2160  # 90 days, Intel's cap
INTEL_PCS_HOST = "trustedservices.intel.com"

ConfigFormat = Literal["json", "legacy", "defaults"]


@dataclass(frozen=True)
class QcnlConfig:
    """Every QCNL setting with Intel's default, where it came from, and what it makes the client do."""

    pccs_url: str = DEFAULT_PCCS_URL
    use_secure_cert: bool = True
    collateral_service: str | None = None
    tcb_update_type: Literal["standard", "early"] = "standard"
    pccs_api_version: Literal["3.0", "3.1"] = "3.0"
    retry_times: int = 0
    retry_delay: int = 0
    local_pck_url: str = ""
    pck_cache_expire_hours: float = 0
    verify_collateral_cache_expire_hours: float = 0
    local_cache_only: bool = False
    get_cert_headers: Mapping[str, str] = field(default_factory=dict)
    get_cert_params: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None
    format: ConfigFormat = "defaults"
    keys_set: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    # ---- effects -------------------------------------------------------------------------------

    @property
    def collateral_url(self) -> str:
        """Where verification collateral comes from: ``collateral_service``, else ``pccs_url``."""
        return self.collateral_service if self.collateral_service is not None else self.pccs_url

    @property
    def collateral_is_intel_pcs(self) -> bool:
        return INTEL_PCS_HOST in self.collateral_url

    @property
    def crls_as_der(self) -> bool:
        """``encoding=der`` on CRL requests: API 3.1, or forced when the collateral service is Intel's PCS."""
        return self.collateral_is_intel_pcs or self.pccs_api_version == "3.1"

    @property
    def collateral_version(self) -> tuple[int, int]:
        """The version the QPL puts in ``sgx_ql_qve_collateral_t``."""
        major, minor = self.pccs_api_version.split(".")
        return int(major), int(minor)

    @property
    def root_ca_crl_route(self) -> Literal["cdp", "rootcacrl", "crl"]:
        """How the root CA CRL is fetched: from Intel's CDP directly (PCS), ``/rootcacrl`` (hex) or ``/crl?uri=``."""
        if self.collateral_is_intel_pcs:
            return "cdp"
        return "rootcacrl" if self.pccs_api_version == "3.0" else "crl"

    @property
    def tdx_collateral_url(self) -> str | None:
        """The TDX flavour of the collateral URL (first ``/sgx/`` replaced by ``/tdx/``), None if impossible."""
        url = self.collateral_url
        return url.replace("/sgx/", "/tdx/", 1) if "/sgx/" in url else None

    def probe_url(self) -> str:
        """The SGX QE identity at the collateral service: what ``pydcap doctor`` asks, and where the root CA
        CRL's distribution point is read from."""
        return f"{self.collateral_url}qe/identity?update={self.tcb_update_type}"

    def retry_delays(self) -> list[float]:
        """Seconds to wait before each retry: ``retry_delay`` each time, or 1, 2, 4, ... when it is 0."""
        if self.retry_delay:
            return [float(self.retry_delay)] * self.retry_times
        return [float(2**i) for i in range(self.retry_times)]

    @property
    def pck_cache_seconds(self) -> int:
        return int(self.pck_cache_expire_hours * 3600)

    @property
    def collateral_cache_seconds(self) -> int:
        return int(self.verify_collateral_cache_expire_hours * 3600)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "format": self.format,
            "keys_set": list(self.keys_set),
            "pccs_url": self.pccs_url,
            "use_secure_cert": self.use_secure_cert,
            "collateral_service": self.collateral_service,
            "tcb_update_type": self.tcb_update_type,
            "pccs_api_version": self.pccs_api_version,
            "retry_times": self.retry_times,
            "retry_delay": self.retry_delay,
            "local_pck_url": self.local_pck_url,
            "pck_cache_expire_hours": self.pck_cache_expire_hours,
            "verify_collateral_cache_expire_hours": self.verify_collateral_cache_expire_hours,
            "local_cache_only": self.local_cache_only,
            "custom_request_options": {
                "get_cert": {"headers": dict(self.get_cert_headers), "params": dict(self.get_cert_params)}
            },
            "effects": {
                "collateral_url": self.collateral_url,
                "collateral_is_intel_pcs": self.collateral_is_intel_pcs,
                "crls_as_der": self.crls_as_der,
                "collateral_version": "{}.{}".format(*self.collateral_version),
                "root_ca_crl_route": self.root_ca_crl_route,
                "tdx_collateral_url": self.tdx_collateral_url,
                "retry_delays": self.retry_delays(),
                "pck_cache_seconds": self.pck_cache_seconds,
                "collateral_cache_seconds": self.collateral_cache_seconds,
            },
            "notes": list(self.notes),
        }


# ---- locating and loading --------------------------------------------------------------------


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$QCNL_CONF_PATH`` as given, else ``/etc/sgx_default_qcnl.conf`` under ``$PYDCAP_SYSROOT``."""
    e = os.environ if env is None else env
    explicit = e.get(PATH_ENV)
    return Path(explicit) if explicit else under_root(system_root(e), DEFAULT_PATH)


def load_qcnl_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> QcnlConfig:
    """Read the configuration; a missing file gives Intel's defaults (with a note saying so)."""
    p = Path(path) if path is not None else config_path(env)
    try:
        text = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return QcnlConfig(notes=(f"no configuration file at {p}: Intel's defaults apply",))
    except OSError as exc:
        raise ProviderConfigError(str(p), f"cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ProviderConfigError(str(p), f"not UTF-8 text (byte {exc.start})") from exc
    return parse_qcnl_config(text, str(p))


def parse_qcnl_config(text: str, source: str = "<qcnl config>") -> QcnlConfig:
    """Parse either format: JSON when the first thing in the file (after comments) is ``{``."""
    if _starts_with_brace(text):
        return _from_json(_strip_comments(text, source), source)
    return _from_legacy(text, source)


def _starts_with_brace(text: str) -> bool:
    pos = 0
    while True:
        pos = _skip_ws(text, pos)
        if text.startswith("//", pos):
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end
        elif text.startswith("/*", pos):
            end = text.find("*/", pos + 2)
            pos = len(text) if end < 0 else end + 2
        else:
            return text.startswith("{", pos)


# ---- values ----------------------------------------------------------------------------------


class _Problem(Exception):
    """A bad value; the caller adds the source, line and key."""


def _url(value: Any, *, empty_ok: bool = False) -> str:
    if not isinstance(value, str):
        raise _Problem(f"must be a URL string, not {_json_type(value)}")
    if value == "" and empty_ok:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _Problem(f"{value!r} is not an http:// or https:// URL")
    if not value.endswith("/"):
        raise _Problem(
            f"{value!r} must end with '/': QCNL appends the request path directly (it would ask {value}pckcert?...)"
        )
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Problem(f"must be true or false, not {_json_type(value)}")
    return value


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Problem(f"must be a whole number, not {_json_type(value)}")
    if not 0 <= value <= 0xFFFFFFFF:
        raise _Problem(f"{value} is out of range (0 to 4294967295)")
    return value


def _hours(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Problem(f"must be a number of hours, not {_json_type(value)}")
    if value < 0:
        raise _Problem(f"{value} is negative")
    return float(value)


def _update_type(value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in ("standard", "early"):
        raise _Problem(f'must be "standard" or "early", not {json.dumps(value)}')
    return value.lower()


def _api_version(value: Any) -> str:
    if value not in ("3.0", "3.1"):
        raise _Problem(f'must be "3.0" or "3.1" (a string), not {json.dumps(value)}')
    return str(value)


def _string_map(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Problem(f"{where} must be an object of strings, not {_json_type(value)}")
    for k, v in value.items():
        if not isinstance(v, str):
            raise _Problem(f"{where}.{k} must be a string, not {_json_type(v)}")
    return dict(value)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    return "an array" if isinstance(value, list) else "an object"


_JSON_KEYS: dict[str, Callable[[Any], Any]] = {
    "pccs_url": _url,
    "use_secure_cert": _bool,
    "collateral_service": _url,
    "tcb_update_type": _update_type,
    "pccs_api_version": _api_version,
    "retry_times": _count,
    "retry_delay": _count,
    "local_pck_url": lambda v: _url(v, empty_ok=True),
    "pck_cache_expire_hours": _hours,
    "verify_collateral_cache_expire_hours": _hours,
    "local_cache_only": _bool,
}
KNOWN_KEYS = (*_JSON_KEYS, "custom_request_options")


def _custom_options(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Problem(f"must be an object, not {_json_type(value)}")
    unknown = [k for k in value if k != "get_cert"]
    if unknown:
        raise _Problem(f'unknown member {unknown[0]!r}: only "get_cert" is supported')
    get_cert = value.get("get_cert", {})
    if not isinstance(get_cert, dict):
        raise _Problem(f"get_cert must be an object, not {_json_type(get_cert)}")
    unknown = [k for k in get_cert if k not in ("headers", "params")]
    if unknown:
        raise _Problem(f'unknown member get_cert.{unknown[0]}: only "headers" and "params" are supported')
    return {
        "get_cert_headers": _string_map(get_cert.get("headers", {}), "get_cert.headers"),
        "get_cert_params": _string_map(get_cert.get("params", {}), "get_cert.params"),
    }


def _assign(config: QcnlConfig, key: str, value: Any, notes: list[str]) -> QcnlConfig:
    if key == "custom_request_options":
        return replace(config, **_custom_options(value))
    parsed = _JSON_KEYS[key](value)
    if key.endswith("_expire_hours") and parsed > CACHE_MAX_EXPIRY_HOURS:
        notes.append(f"{key} {value} is capped at {CACHE_MAX_EXPIRY_HOURS} hours (90 days), as Intel's QCNL does")
        parsed = float(CACHE_MAX_EXPIRY_HOURS)
    return replace(config, **{key: parsed})


def _unknown(key: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key{hint}; QCNL reads only {', '.join(known)}"


# ---- JSON ------------------------------------------------------------------------------------


def _strip_comments(text: str, source: str) -> str:
    """Replace ``//`` and ``/* */`` comments outside strings with spaces, keeping every newline."""
    try:
        return strip_comments(text)
    except CommentError as exc:
        raise ProviderConfigError(source, str(exc), line=exc.line) from None


_DECODER = json.JSONDecoder()


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _from_json(text: str, source: str) -> QcnlConfig:
    def fail(pos: int, reason: str, key: str | None = None) -> ProviderConfigError:
        return ProviderConfigError(source, reason, key=key, line=line_of(text, pos))

    config = QcnlConfig(source=source, format="json")
    notes: list[str] = []
    seen: dict[str, int] = {}
    pos = _skip_ws(text, text.index("{") + 1)
    previous: str | None = None
    if pos < len(text) and text[pos] == "}":
        pos += 1
    else:
        while True:
            if pos >= len(text):
                raise fail(pos, "the file ends before the closing '}'", previous)
            if text[pos] != '"':
                after = f" after the value of {previous!r}" if previous else ""
                raise fail(pos, f"expected a quoted key{after}, found {text[pos]!r}")
            try:
                key, pos = _DECODER.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                raise fail(exc.pos, f"invalid JSON: {exc.msg}") from exc
            key_line = line_of(text, pos)
            pos = _skip_ws(text, pos)
            if pos >= len(text) or text[pos] != ":":
                raise fail(pos, "expected ':' after the key", key)
            start = _skip_ws(text, pos + 1)
            try:
                value, pos = _DECODER.raw_decode(text, start)
            except json.JSONDecodeError as exc:
                raise fail(exc.pos, f"invalid JSON value: {exc.msg}", key) from exc
            except RecursionError as exc:
                raise fail(start, "value nested too deeply", key) from exc
            if key in seen:
                raise ProviderConfigError(
                    source, f"duplicate key (first set on line {seen[key]})", key=key, line=key_line
                )
            seen[key] = key_line
            if key not in KNOWN_KEYS:
                raise ProviderConfigError(source, _unknown(key, KNOWN_KEYS), key=key, line=key_line)
            try:
                config = _assign(config, key, value, notes)
            except _Problem as exc:
                raise ProviderConfigError(source, str(exc), key=key, line=key_line) from exc
            previous = key
            pos = _skip_ws(text, pos)
            if pos < len(text) and text[pos] == ",":
                pos = _skip_ws(text, pos + 1)
                if pos < len(text) and text[pos] == "}":
                    raise fail(pos, "trailing comma before '}' (not JSON)", previous)
                continue
            if pos < len(text) and text[pos] == "}":
                pos += 1
                break
            found = repr(text[pos]) if pos < len(text) else "the end of the file"
            raise fail(pos, f"expected ',' or '}}' after the value, found {found}", previous)
    rest = _skip_ws(text, pos)
    if rest != len(text):
        raise fail(rest, "unexpected text after the closing '}'")
    return replace(config, keys_set=tuple(seen), notes=tuple(notes))


# ---- legacy KEY=VALUE ------------------------------------------------------------------------

_LEGACY_KEYS = {
    "PCCS_URL": "pccs_url",
    "USE_SECURE_CERT": "use_secure_cert",
    "COLLATERAL_SERVICE": "collateral_service",
    "PCCS_API_VERSION": "pccs_api_version",
    "RETRY_TIMES": "retry_times",
    "RETRY_DELAY": "retry_delay",
    "LOCAL_PCK_URL": "local_pck_url",
    "PCK_CACHE_EXPIRE_HOURS": "pck_cache_expire_hours",
    "VERIFY_COLLATERAL_CACHE_EXPIRE_HOURS": "verify_collateral_cache_expire_hours",
    "LOCAL_CACHE_ONLY": "local_cache_only",
}
_LEGACY_BOOLS = {"TRUE": True, "true": True, "FALSE": False, "false": False}


def _legacy_value(key: str, raw: str) -> Any:
    if key in ("use_secure_cert", "local_cache_only"):
        if raw not in _LEGACY_BOOLS:
            raise _Problem(f"must be TRUE, true, FALSE or false, not {raw!r}")
        return _LEGACY_BOOLS[raw]
    if key in ("retry_times", "retry_delay") or key.endswith("_expire_hours"):
        if not raw.isdigit():
            raise _Problem(f"must be a whole number, not {raw!r}")
        return int(raw)
    return raw


def _from_legacy(text: str, source: str) -> QcnlConfig:
    config = QcnlConfig(source=source, format="legacy")
    notes: list[str] = []
    seen: dict[str, int] = {}
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = "".join(raw_line.split())  # Intel removes every blank character, not only the ends
        if not line or line.startswith("#"):
            continue
        name, eq, raw = line.partition("=")
        if not eq:
            raise ProviderConfigError(source, f"expected KEY=VALUE, found {raw_line.strip()!r}", line=number)
        if name.lower() in ("tcb_update_type", "custom_request_options"):
            raise ProviderConfigError(source, "only the JSON format supports this setting", key=name, line=number)
        if name not in _LEGACY_KEYS:
            raise ProviderConfigError(source, _unknown(name, tuple(_LEGACY_KEYS)), key=name, line=number)
        key = _LEGACY_KEYS[name]
        if key in seen:
            raise ProviderConfigError(source, f"duplicate key (first set on line {seen[key]})", key=name, line=number)
        seen[key] = number
        try:
            config = _assign(config, key, _legacy_value(key, raw), notes)
        except _Problem as exc:
            raise ProviderConfigError(source, str(exc), key=name, line=number) from exc
    if not seen:
        notes.append(f"{source} sets nothing: Intel's defaults apply")
    return replace(config, keys_set=tuple(seen), notes=tuple(notes))
