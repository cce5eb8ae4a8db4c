"""The one way ``pydcap.trust`` says no."""

from __future__ import annotations

from pydcap.intel.outcomes import Failure


class Refused(Exception):
    """A document that is not authentic under the trust root, or not the one asked for. ``failure`` is Intel's name
    for the check that failed (None when the bytes could not be read at all); ``detail`` says what was wrong."""

    def __init__(self, failure: Failure | None, detail: str) -> None:
        super().__init__(detail)
        self.failure = failure
        self.detail = detail
