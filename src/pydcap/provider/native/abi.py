"""The C ABI of ``libdcap_quoteprov.so`` as ctypes declarations: struct layouts (x86_64), function
prototypes, and which functions a plugin must export and which it may.

Layouts follow Intel's ``sgx_ql_lib_common.h``: the PCK cert id and quote config are packed, the
collateral struct has natural alignment. Sizes and offsets are checked by the tests against gcc.
"""

from __future__ import annotations

import ctypes
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

quote3_error_t = ctypes.c_uint32


class PckCertIdStruct(ctypes.Structure):
    """``sgx_ql_pck_cert_id_t`` (packed, 43 bytes)."""

    _pack_ = 1
    _fields_ = [
        ("p_qe3_id", ctypes.POINTER(ctypes.c_uint8)),
        ("qe3_id_size", ctypes.c_uint32),
        ("p_platform_cpu_svn", ctypes.POINTER(ctypes.c_uint8)),
        ("p_platform_pce_isv_svn", ctypes.POINTER(ctypes.c_uint16)),
        ("p_encrypted_ppid", ctypes.POINTER(ctypes.c_uint8)),
        ("encrypted_ppid_size", ctypes.c_uint32),
        ("crypto_suite", ctypes.c_uint8),
        ("pce_id", ctypes.c_uint16),
    ]


class QuoteConfigStruct(ctypes.Structure):
    """``sgx_ql_config_t`` (packed, 34 bytes): version 1, certified CPUSVN/PCESVN, PEM chain + NUL."""

    _pack_ = 1
    _fields_ = [
        ("version", ctypes.c_uint32),
        ("cert_cpu_svn", ctypes.c_uint8 * 16),
        ("cert_pce_isv_svn", ctypes.c_uint16),
        ("cert_data_size", ctypes.c_uint32),
        ("p_cert_data", ctypes.POINTER(ctypes.c_uint8)),
    ]


# The seven (pointer, size) members of sgx_ql_qve_collateral_t, in layout order.
COLLATERAL_PARTS = (
    "pck_crl_issuer_chain",
    "root_ca_crl",
    "pck_crl",
    "tcb_info_issuer_chain",
    "tcb_info",
    "qe_identity_issuer_chain",
    "qe_identity",
)


def _pointer_and_size(part: str) -> tuple[tuple[str, Any], tuple[str, Any]]:
    return (part, ctypes.POINTER(ctypes.c_char)), (f"{part}_size", ctypes.c_uint32)


class CollateralStruct(ctypes.Structure):
    """``sgx_ql_qve_collateral_t`` (also ``tdx_ql_qv_collateral_t``; natural alignment, 120 bytes).

    ``major_version``.``minor_version``: 1.x PEM CRLs, 3.0 hex-encoded DER CRLs, 3.1 and 4.0 raw DER.
    ``tee_type``: 0 for SGX, 0x81 for TDX. Each size counts the trailing NUL the plugins append.
    """

    _fields_ = [
        ("major_version", ctypes.c_uint16),
        ("minor_version", ctypes.c_uint16),
        ("tee_type", ctypes.c_uint32),
        *((field, kind) for part in COLLATERAL_PARTS for field, kind in _pointer_and_size(part)),
    ]


# Intel's void (*)(sgx_ql_log_level_t, const char*): ERROR 0, INFO 1, DEBUG 2, TRACE 3.
LogCallbackType = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p)


@dataclass(frozen=True)
class Prototype:
    restype: Any
    argtypes: tuple[Any, ...]
    required: bool


_P = ctypes.POINTER
_u8p = _P(ctypes.c_uint8)

PROTOTYPES: dict[str, Prototype] = {
    "sgx_ql_get_quote_config": Prototype(
        quote3_error_t, (_P(PckCertIdStruct), _P(_P(QuoteConfigStruct))), required=True
    ),
    "sgx_ql_free_quote_config": Prototype(quote3_error_t, (_P(QuoteConfigStruct),), required=True),
    "sgx_ql_get_quote_verification_collateral": Prototype(
        quote3_error_t, (_u8p, ctypes.c_uint16, ctypes.c_char_p, _P(_P(CollateralStruct))), required=True
    ),
    "sgx_ql_free_quote_verification_collateral": Prototype(quote3_error_t, (_P(CollateralStruct),), required=True),
    "tdx_ql_get_quote_verification_collateral": Prototype(
        quote3_error_t, (_u8p, ctypes.c_uint16, ctypes.c_char_p, _P(_P(CollateralStruct))), required=False
    ),
    "tdx_ql_free_quote_verification_collateral": Prototype(quote3_error_t, (_P(CollateralStruct),), required=False),
    "sgx_ql_get_qve_identity": Prototype(
        quote3_error_t,
        (_P(ctypes.c_void_p), _P(ctypes.c_uint32), _P(ctypes.c_void_p), _P(ctypes.c_uint32)),
        required=False,
    ),
    "sgx_ql_free_qve_identity": Prototype(quote3_error_t, (ctypes.c_void_p, ctypes.c_void_p), required=False),
    "sgx_ql_get_root_ca_crl": Prototype(quote3_error_t, (_P(ctypes.c_void_p), _P(ctypes.c_uint16)), required=False),
    "sgx_ql_free_root_ca_crl": Prototype(quote3_error_t, (ctypes.c_void_p,), required=False),
    # Intel: (callback, level) -> quote3_error_t. Azure: sgx_ql_set_logging_function(callback) -> 0 on success.
    "sgx_ql_set_logging_callback": Prototype(quote3_error_t, (LogCallbackType, ctypes.c_int), required=False),
    "sgx_ql_set_logging_function": Prototype(ctypes.c_int, (LogCallbackType,), required=False),
    "sgx_qpl_clear_cache": Prototype(quote3_error_t, (ctypes.c_uint32,), required=False),
    "sgx_qpl_global_init": Prototype(quote3_error_t, (), required=False),
    "sgx_qpl_global_cleanup": Prototype(quote3_error_t, (), required=False),
}

REQUIRED_SYMBOLS = tuple(name for name, p in PROTOTYPES.items() if p.required)

# Free functions that must accompany each getter: a plugin exporting one without the other is refused,
# because memory the plugin allocated can only be released by the plugin.
PAIRED_FREE = {
    "sgx_ql_get_quote_config": "sgx_ql_free_quote_config",
    "sgx_ql_get_quote_verification_collateral": "sgx_ql_free_quote_verification_collateral",
    "tdx_ql_get_quote_verification_collateral": "tdx_ql_free_quote_verification_collateral",
    "sgx_ql_get_qve_identity": "sgx_ql_free_qve_identity",
    "sgx_ql_get_root_ca_crl": "sgx_ql_free_root_ca_crl",
}


def missing_symbols(exported: Collection[str]) -> tuple[str, ...]:
    """What a library exporting ``exported`` lacks to be used: required functions, then the free function of
    each getter it exports. Discovery (from the ELF symbol table) and loading judge a plugin by this alone."""
    required = [s for s in REQUIRED_SYMBOLS if s not in exported]
    unpaired = [free for getter, free in PAIRED_FREE.items() if getter in exported and free not in exported]
    return tuple(dict.fromkeys([*required, *unpaired]))


def read_buffer(pointer: Any, size: int) -> bytes:
    """Copy ``size`` bytes out of plugin memory (a NULL pointer or zero size gives ``b""``)."""
    if not pointer or size <= 0:
        return b""
    return ctypes.string_at(ctypes.cast(pointer, ctypes.c_void_p), size)
