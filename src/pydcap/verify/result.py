"""Moved: what verification returns lives in ``pydcap.results`` (edit it there). This module re-exports it for code
written before the move, and goes away once nothing imports it."""

from pydcap.intel.time import iso
from pydcap.results import Supplemental, VerificationResult

__all__ = ["Supplemental", "VerificationResult", "iso"]
