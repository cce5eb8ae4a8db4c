"""The PCCS's answer for each documented error family (issue 12, finding 6): bad input 400, the store in trouble
503 with Retry-After and none of its words, any "unavailable, retry later" error of the collateral family 503
with its own Retry-After, an unexpected error none of these (the server says 500 without internals)."""

from __future__ import annotations

import pytest

from pydcap.cache import StoreError
from pydcap.errors import CollateralFormatError
from pydcap.pccs import CachingMode
from pydcap.pccs.errors import as_pccs_error, unavailable
from pydcap.sources.errors import CollateralUnavailableError, ThrottledError


class _Later(CollateralUnavailableError):
    """A future "unavailable now" error of the documented family, with the wait it asks for."""

    retry_after = 2.2


def test_the_store_failing_is_503_with_retry_after_and_no_internals() -> None:
    error = as_pccs_error(StoreError("the cache store /var/db failed: disk I/O error"), CachingMode.LAZY)
    assert error is not None and error.status == 503
    assert int(error.headers["Retry-After"]) >= 1
    assert "disk" not in error.message and "/var/db" not in error.message


@pytest.mark.parametrize(
    ("exc", "wait"),
    [(_Later("busy"), "3"), (ThrottledError("the TCB info", retry_after=0.2, rate=10, burst=100), "1")],
)
def test_unavailable_later_is_503_with_its_retry_after(exc: CollateralUnavailableError, wait: str) -> None:
    error = unavailable("TCB info", exc, CachingMode.LAZY)
    assert error.status == 503 and error.headers["Retry-After"] == wait


def test_bad_input_that_reached_a_parser_is_400_and_a_bug_is_not_mapped() -> None:
    error = as_pccs_error(CollateralFormatError("tcb_info", "not JSON"), CachingMode.LAZY)
    assert error is not None and error.status == 400
    assert as_pccs_error(KeyError("a bug"), CachingMode.LAZY) is None
