"""The one way ``pydcap.trust`` (and the verifier built on it) says no."""

from __future__ import annotations

from pydcap.intel.outcomes import Failure
from pydcap.intel.quote3 import PreflightStep


class Refused(Exception):
    """Not authentic under the trust root, or not what was asked for: ``failure`` is Intel's name for the check that
    failed, ``detail`` says what was wrong, and ``step`` is the step of Intel's API pre-flight that met it (None:
    one of the QVL's four calls, or an admission)."""

    def __init__(self, failure: Failure, detail: str, step: PreflightStep | None = None) -> None:
        super().__init__(detail)
        self.failure = failure
        self.detail = detail
        self.step = step
