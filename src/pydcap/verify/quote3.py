"""Moved: Intel's API answer names live in ``pydcap.intel.quote3`` (edit them there). This module re-exports them for
code written before the move, and goes away once nothing imports it."""

from pydcap.intel.quote3 import NON_TERMINAL, QUOTE3_ERROR_OF_FAILURE, PreflightStep, Quote3Error

__all__ = ["NON_TERMINAL", "QUOTE3_ERROR_OF_FAILURE", "PreflightStep", "Quote3Error"]
