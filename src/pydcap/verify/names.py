"""Moved: Intel's outcome names live in ``pydcap.intel.outcomes`` (edit them there). This module re-exports them for
code written before the move, and goes away once nothing imports it."""

from pydcap.intel.outcomes import QV_RESULT_OF_STATUS, Failure, QvResult, TcbStatus

__all__ = ["QV_RESULT_OF_STATUS", "Failure", "QvResult", "TcbStatus"]
