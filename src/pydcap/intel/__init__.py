"""Intel's vocabulary, in one place: what every other part of pydcap names things by.

Outcome names (``Failure``, ``QvResult``, ``TcbStatus``; ``Quote3Error`` and the pre-flight steps of Intel's
API), a platform (``PlatformId``) and its TCB (``Tcb``, with the TCBm encoding and Intel's order), the
documents Intel publishes (``EntryKey``, and the ``Tee``, ``PckCa`` and ``Update`` parameters that select
them), time as pydcap passes it (``TimeLike``, ``to_unix``, ``iso``, ``Clock``) and, in
``pydcap.intel.protocol``, the PCS/PCCS HTTP API (paths, parameters, header names, encodings).

This package imports nothing of pydcap's but ``errors`` and the quote format; everything else may import it.
"""

from pydcap.intel.documents import EntryKey, EntryKind, InvalidKeyError, PckCa, Tee, Update
from pydcap.intel.outcomes import QV_RESULT_OF_STATUS, Failure, QvResult, TcbStatus
from pydcap.intel.platform import PlatformId, PlatformRequestError
from pydcap.intel.quote3 import PreflightStep, Quote3Error
from pydcap.intel.tcb import Incomparable, Tcb, TcbFormatError
from pydcap.intel.time import Clock, TimeLike, iso, to_unix

__all__ = [
    "QV_RESULT_OF_STATUS",
    "Clock",
    "EntryKey",
    "EntryKind",
    "Failure",
    "Incomparable",
    "InvalidKeyError",
    "PckCa",
    "PlatformId",
    "PlatformRequestError",
    "PreflightStep",
    "Quote3Error",
    "QvResult",
    "Tcb",
    "TcbFormatError",
    "TcbStatus",
    "Tee",
    "TimeLike",
    "Update",
    "iso",
    "to_unix",
]
