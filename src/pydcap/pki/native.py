"""The optional native accelerator: ECDSA P-256 / SHA-256 checks through ``ring`` (Rust, ``native/``), built by
``make native`` and off unless asked for (``PYDCAP_NATIVE=1`` in the environment, or ``enable()``).

It only ever says yes. A signature it accepts is one ``cryptography`` accepts: the same curve, hash and
arithmetic, and the key and signature encodings are read no more loosely than ``cryptography`` reads them (a DER
signature must be DER; tests/verify/test_native.py and the fuzz target ``signature`` try loose forms). Anything it
does not accept is checked again the usual way, which also says why (a key that is not a point, a signature that
does not verify). So turning it on changes how fast a verification runs, never its result; the same tests verify
every real, negative and simulated bundle both ways and compare the results.

What it saves: a check through ``ring`` cost 63-69 us against 76-80 us through ``cryptography`` on one
development machine, 42 us against 46-50 us on a faster one, and it needs no key object (5-20 us each), which a
first contact makes for its PCK key and attestation key.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

from pydcap.errors import PydcapError

LIBRARY = Path(__file__).resolve().parents[3] / "native" / "target" / "release" / "libpydcap_native.so"
"""Where ``make native`` builds the library, in a checkout of pydcap (an installed pydcap is given the path)."""
ENVIRONMENT = "PYDCAP_NATIVE"
"""``1`` turns the accelerator on at import (a warning, and the pure-Python path, if it is not built); a path
turns it on with that library."""
_ABI_VERSION = 2  # native/src/lib.rs ABI_VERSION

_Check = Callable[[int, bytes, int, bytes, int, bytes, int], int]  # (der?, point, signature, data), lengths after each


class _Library:
    """The library's check while the accelerator is on (None while it is off), and the error ``ctypes`` raises for
    an argument it cannot pass."""

    __slots__ = ("argument_error", "check")

    def __init__(self) -> None:
        self.check: _Check | None = None
        self.argument_error: type[Exception] = TypeError


_library = _Library()


class NativeUnavailableError(PydcapError):
    """The native accelerator's library could not be loaded. ``path`` is where it was looked for."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


def enable(path: str | os.PathLike[str] | None = None) -> Path:
    """Check signatures through the native library at ``path`` (default: where ``make native`` puts it) from now
    on, in this process; the path loaded is returned."""
    import ctypes  # only when asked for: it costs a few milliseconds of every start-up

    where = Path(path) if path is not None else LIBRARY
    if not where.is_file():
        raise NativeUnavailableError(f"the native accelerator is not built: no {where} (run `make native`)", where)
    try:
        library = ctypes.CDLL(str(where))
        version, check = library.pydcap_native_abi, library.pydcap_p256_sha256
    except (OSError, AttributeError) as exc:
        raise NativeUnavailableError(f"{where} is not pydcap's native accelerator: {exc}", where) from exc
    version.restype, version.argtypes = ctypes.c_uint32, []
    if version() != _ABI_VERSION:
        raise NativeUnavailableError(
            f"{where} speaks interface {version()}, this pydcap needs {_ABI_VERSION} (run `make native` again)", where
        )
    check.restype = ctypes.c_int
    buffer = (ctypes.c_char_p, ctypes.c_size_t)  # a bytes object and its length
    check.argtypes = (ctypes.c_int, *buffer, *buffer, *buffer)
    _library.check, _library.argument_error = check, ctypes.ArgumentError
    return where


def disable() -> None:
    """Back to ``cryptography`` alone, in this process."""
    _library.check = None


def enabled() -> bool:
    return _library.check is not None


def fixed_ok(point: bytes, signature: bytes, data: bytes) -> bool:
    """True when the accelerator is on and ``signature`` (64 bytes, r || s) of ``data`` verifies with ``point``
    (65 bytes, 0x04 || x || y); False means "not known", to be checked without it."""
    return _ask(0, point, signature, data)


def der_ok(point: bytes, signature: bytes, data: bytes) -> bool:
    """``fixed_ok`` for a DER ``Ecdsa-Sig-Value`` signature (certificates and CRLs)."""
    return _ask(1, point, signature, data)


def _ask(der: int, point: bytes, signature: bytes, data: bytes) -> bool:
    check = _library.check
    if check is None:
        return False
    try:
        return check(der, point, len(point), signature, len(signature), data, len(data)) == 1
    except _library.argument_error:  # not bytes (a bytearray, say): cryptography takes it
        return False


def _from_environment() -> None:
    asked = os.environ.get(ENVIRONMENT, "")
    if asked in ("", "0"):
        return
    try:
        enable(None if asked == "1" else asked)
    except NativeUnavailableError as exc:
        warnings.warn(f"{ENVIRONMENT}={asked}: {exc}; checking signatures without it", RuntimeWarning, stacklevel=2)


_from_environment()
