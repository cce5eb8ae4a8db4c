"""A native quote provider plugin (``libdcap_quoteprov.so``, Intel's or Azure's) called through its C ABI.

Memory the plugin returns is copied out and released with the plugin's own free function, always and only
after a successful call (on failure the plugin owns nothing it handed out). Calls are serialised: the plugins
keep global state and are not documented as thread-safe.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydcap.collateral import Collateral, SignedDocument
from pydcap.errors import FormatError
from pydcap.provider import codes
from pydcap.provider.errors import (
    MalformedResponse,
    OperationNotSupported,
    PluginLoadError,
    ProviderError,
    UnsupportedCollateralVersion,
    error_for,
)
from pydcap.provider.interface import (
    CacheKind,
    CaType,
    LogCallback,
    LogLevel,
    PckCertChain,
    PlatformId,
    QuoteProvider,
    QveIdentity,
    check_request,
)
from pydcap.provider.native.abi import (
    COLLATERAL_PARTS,
    PROTOTYPES,
    CollateralStruct,
    LogCallbackType,
    PckCertIdStruct,
    QuoteConfigStruct,
    missing_symbols,
    read_buffer,
)
from pydcap.quote import TeeType

T = TypeVar("T")

# Message levels as each plugin family numbers them.
_INTEL_TO_PYDCAP = {0: LogLevel.ERROR, 1: LogLevel.INFO, 2: LogLevel.DEBUG, 3: LogLevel.TRACE}
_AZURE_TO_PYDCAP = {0: LogLevel.ERROR, 1: LogLevel.WARNING, 2: LogLevel.INFO}
_PYDCAP_TO_INTEL = {
    LogLevel.ERROR: 0,
    LogLevel.WARNING: 0,  # Intel has no warning level: errors are the closest
    LogLevel.INFO: 1,
    LogLevel.DEBUG: 2,
    LogLevel.TRACE: 3,
}
_SUPPORTED_VERSIONS = {(1, 0), (3, 0), (3, 1), (4, 0)}
_CRL_PARTS = ("pck_crl", "root_ca_crl")

# Every logging callback handed to a plugin. A plugin keeps the pointer after its provider is gone, and
# ctypes never unloads a library: a later provider of the same library would make it call freed code.
_KEPT_CALLBACKS: list[Any] = []
_KEPT_LOCK = threading.Lock()


def _keep_for_the_process(callback: Any) -> None:
    with _KEPT_LOCK:
        _KEPT_CALLBACKS.append(callback)


class NativeProvider(QuoteProvider):
    """Serve pydcap from an installed quote provider library.

    ``flavor`` is ``"azure"`` when the library exports Azure's ``sgx_ql_set_logging_function``, else
    ``"intel"``. ``library`` is the loaded ``ctypes.CDLL`` (for plugin-specific extensions and tests).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.name = f"native:{self.path}"
        try:
            self.library = ctypes.CDLL(self.path, mode=os.RTLD_NOW | os.RTLD_LOCAL)
        except OSError as exc:
            raise PluginLoadError(self.path, f"the dynamic loader refused it: {exc}") from exc
        self._functions: dict[str, Any] = {}
        for symbol, proto in PROTOTYPES.items():
            try:
                function = getattr(self.library, symbol)
            except AttributeError:
                continue
            function.restype = proto.restype
            function.argtypes = list(proto.argtypes)
            self._functions[symbol] = function
        missing = missing_symbols(self._functions)
        if missing:
            raise PluginLoadError(self.path, f"not a usable quote provider: it lacks {', '.join(missing)}")
        self.flavor = "azure" if "sgx_ql_set_logging_function" in self._functions else "intel"
        self._lock = threading.RLock()
        self._open = True
        if "sgx_qpl_global_init" in self._functions:
            self._check(self._functions["sgx_qpl_global_init"](), "sgx_qpl_global_init")

    @property
    def exports(self) -> frozenset[str]:
        """The ABI functions this library provides."""
        return frozenset(self._functions)

    # ---- the interface -------------------------------------------------------------------------

    def pck_cert_chain(self, platform: PlatformId) -> PckCertChain:
        qe_id = (ctypes.c_uint8 * len(platform.qe_id)).from_buffer_copy(platform.qe_id)
        cpu_svn = (ctypes.c_uint8 * 16).from_buffer_copy(platform.cpu_svn)
        pce_svn = ctypes.c_uint16(platform.pce_svn)
        ppid = platform.encrypted_ppid
        ppid_buffer = (ctypes.c_uint8 * len(ppid)).from_buffer_copy(ppid) if ppid else None
        u8p = ctypes.POINTER(ctypes.c_uint8)
        cert_id = PckCertIdStruct(
            p_qe3_id=ctypes.cast(qe_id, u8p),
            qe3_id_size=len(platform.qe_id),
            p_platform_cpu_svn=ctypes.cast(cpu_svn, u8p),
            p_platform_pce_isv_svn=ctypes.pointer(pce_svn),
            p_encrypted_ppid=ctypes.cast(ppid_buffer, u8p) if ppid_buffer is not None else u8p(),
            encrypted_ppid_size=len(ppid) if ppid else 0,
            crypto_suite=platform.crypto_suite,
            pce_id=platform.pce_id,
        )
        out = ctypes.POINTER(QuoteConfigStruct)()

        def copy(config: QuoteConfigStruct) -> PckCertChain:
            if config.version != 1:
                raise MalformedResponse(codes.MESSAGE_ERROR, f"sgx_ql_config_t version {config.version}, not 1")
            pem = read_buffer(config.p_cert_data, config.cert_data_size).rstrip(b"\x00")
            if b"-----BEGIN CERTIFICATE-----" not in pem:
                raise MalformedResponse(codes.MESSAGE_ERROR, "the certification data holds no PEM certificate")
            return PckCertChain(pem, bytes(config.cert_cpu_svn), int(config.cert_pce_isv_svn))

        return self._call_and_free(
            "sgx_ql_get_quote_config", "sgx_ql_free_quote_config", (ctypes.byref(cert_id), ctypes.byref(out)), out, copy
        )

    def verification_collateral(self, fmspc: bytes, ca: CaType, tee: TeeType = TeeType.SGX) -> Collateral:
        check_request(fmspc, ca, tee)
        prefix = "tdx" if tee == TeeType.TDX else "sgx"
        getter = f"{prefix}_ql_get_quote_verification_collateral"
        free = f"{prefix}_ql_free_quote_verification_collateral"
        self._require(getter)
        fmspc_buffer = (ctypes.c_uint8 * 6).from_buffer_copy(fmspc)
        out = ctypes.POINTER(CollateralStruct)()

        def copy(c: CollateralStruct) -> tuple[tuple[int, int], int, dict[str, bytes]]:
            parts = {p: read_buffer(getattr(c, p), getattr(c, f"{p}_size")) for p in COLLATERAL_PARTS}
            return (int(c.major_version), int(c.minor_version)), int(c.tee_type), parts

        version, tee_type, parts = self._call_and_free(
            getter, free, (fmspc_buffer, 6, ca.encode(), ctypes.byref(out)), out, copy
        )
        if version not in _SUPPORTED_VERSIONS:
            raise UnsupportedCollateralVersion(
                codes.COLLATERAL_VERSION_NOT_SUPPORTED, "collateral version {}.{}".format(*version)
            )
        if tee_type != int(tee):
            raise MalformedResponse(codes.MESSAGE_ERROR, f"asked for {tee.name}, got tee_type 0x{tee_type:x}")
        return collateral_from_parts(parts)

    def qve_identity(self) -> QveIdentity:
        self._require("sgx_ql_get_qve_identity")
        identity, identity_size = ctypes.c_void_p(), ctypes.c_uint32()
        chain, chain_size = ctypes.c_void_p(), ctypes.c_uint32()
        with self._lock:
            self._require_open()
            code = self._functions["sgx_ql_get_qve_identity"](
                ctypes.byref(identity), ctypes.byref(identity_size), ctypes.byref(chain), ctypes.byref(chain_size)
            )
            self._check(code, "sgx_ql_get_qve_identity")
            try:
                document = read_buffer(identity, identity_size.value).rstrip(b"\x00")
                issuer_chain = read_buffer(chain, chain_size.value).rstrip(b"\x00")
            finally:
                self._functions["sgx_ql_free_qve_identity"](identity, chain)
        try:
            return QveIdentity(SignedDocument.parse(document, "enclaveIdentity", "qve_identity"), issuer_chain)
        except FormatError as exc:
            raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, str(exc)) from exc

    def root_ca_crl(self) -> bytes:
        self._require("sgx_ql_get_root_ca_crl")
        crl, size = ctypes.c_void_p(), ctypes.c_uint16()
        with self._lock:
            self._require_open()
            self._check(
                self._functions["sgx_ql_get_root_ca_crl"](ctypes.byref(crl), ctypes.byref(size)),
                "sgx_ql_get_root_ca_crl",
            )
            try:
                raw = read_buffer(crl, size.value)
            finally:
                self._functions["sgx_ql_free_root_ca_crl"](crl)
        return normalise_crl("root_ca_crl", raw)

    def clear_cache(self, kinds: CacheKind = CacheKind.ALL) -> None:
        self._require("sgx_qpl_clear_cache")
        with self._lock:
            self._require_open()
            self._check(self._functions["sgx_qpl_clear_cache"](int(kinds)), "sgx_qpl_clear_cache")

    def set_logging(self, callback: LogCallback | None, level: LogLevel = LogLevel.INFO) -> None:
        azure = self.flavor == "azure"
        symbol = "sgx_ql_set_logging_function" if azure else "sgx_ql_set_logging_callback"
        self._require(symbol)
        levels = _AZURE_TO_PYDCAP if azure else _INTEL_TO_PYDCAP
        if callback is None:
            c_logger = LogCallbackType()
        else:

            def relay(raw_level: int, message: bytes | None) -> None:
                ours = levels.get(raw_level)
                if ours is None or ours > level:
                    return
                with contextlib.suppress(Exception):  # an exception cannot cross back into C
                    callback(ours, (message or b"").decode("utf-8", "replace").rstrip("\n"))

            c_logger = LogCallbackType(relay)
        with self._lock:
            self._require_open()
            _keep_for_the_process(c_logger)
            if azure:
                if self._functions[symbol](c_logger) != 0:
                    raise error_for(codes.ERROR_UNEXPECTED, f"{symbol} refused the callback")
            else:
                self._check(self._functions[symbol](c_logger, _PYDCAP_TO_INTEL[level]), symbol)

    def close(self) -> None:
        """Call ``sgx_qpl_global_cleanup`` when the plugin has it. The library stays mapped (as Intel's
        verification library leaves it): unloading C++ plugins with live threads is not safe."""
        with self._lock:
            if not self._open:
                return
            self._open = False
            if "sgx_qpl_global_cleanup" in self._functions:
                self._check(self._functions["sgx_qpl_global_cleanup"](), "sgx_qpl_global_cleanup")

    # ---- plumbing ------------------------------------------------------------------------------

    def _call_and_free(self, getter: str, free: str, args: tuple[Any, ...], out: Any, copy: Callable[[Any], T]) -> T:
        with self._lock:
            self._require_open()
            self._check(self._functions[getter](*args), getter)
            if not out:
                raise MalformedResponse(codes.MESSAGE_ERROR, f"{getter} succeeded but returned nothing")
            try:
                return copy(out.contents)
            finally:
                self._functions[free](out)

    def _require(self, symbol: str) -> None:
        if symbol not in self._functions:
            raise OperationNotSupported(codes.PLATFORM_LIB_UNAVAILABLE, f"{self.path} does not export {symbol}")

    def _require_open(self) -> None:
        if not self._open:
            raise ProviderError(codes.ERROR_UNEXPECTED, f"{self.name} is closed")

    def _check(self, code: int, what: str) -> None:
        if code != codes.SUCCESS:
            raise error_for(code, f"{what} in {self.path}")


def collateral_from_parts(parts: dict[str, bytes]) -> Collateral:
    """A ``Collateral`` from the seven buffers of ``sgx_ql_qve_collateral_t`` (NUL-terminated, CRLs in any
    of Intel's encodings), raising ``MalformedResponse`` naming the part that is wrong."""
    values = {
        part: normalise_crl(part, raw) if part in _CRL_PARTS else raw.rstrip(b"\x00") for part, raw in parts.items()
    }
    for part, value in values.items():
        if not value:
            raise MalformedResponse(codes.MESSAGE_ERROR, f"{part} is empty")
    try:
        return Collateral.create(**values)
    except FormatError as exc:
        raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, str(exc)) from exc


def normalise_crl(part: str, raw: bytes) -> bytes:
    """Cut a CRL buffer to its content: DER by its own length (a DER CRL may end in a zero byte, so the
    plugin's NUL cannot simply be stripped), text (hex or PEM) by stripping the trailing NULs."""
    if raw[:1] == b"\x30":
        length = _der_length(raw)
        if length is None or length > len(raw):
            raise MalformedResponse(codes.MESSAGE_ERROR, f"{part}: truncated DER ({len(raw)} bytes)")
        return raw[:length]
    return raw.rstrip(b"\x00")


def _der_length(raw: bytes) -> int | None:
    """Total length (header + content) of the DER element at the start of ``raw``."""
    if len(raw) < 2:
        return None
    first = raw[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4 or len(raw) < 2 + count:
        return None
    return 2 + count + int.from_bytes(raw[2 : 2 + count], "big")
