"""The cache's own failures: a document refused by verification, a miss where only the cache may answer,
and a store that cannot be opened or used."""

from __future__ import annotations

from pydcap.cache.keys import EntryKey
from pydcap.errors import PydcapError
from pydcap.sources.errors import CollateralUnavailableError
from pydcap.verify.names import Failure


class UntrustedCollateralError(CollateralUnavailableError):
    """A document that does not verify against the trust root (or is not the document asked for). It was
    neither stored nor served. ``failure`` is Intel's name for the check that failed, when there is one."""

    def __init__(self, key: EntryKey, reason: str, *, source: str = "", failure: Failure | None = None) -> None:
        self.key = key
        self.reason = reason
        self.source = source
        self.failure = failure
        named = f" [{failure.value}]" if failure is not None else ""
        origin = f" from {source}" if source else ""
        super().__init__(
            f"refused the {key.description}{origin}: {reason}{named}. It was not cached; the source serves "
            "collateral that does not verify against the trust root, so check which service it is"
        )


class NotCachedError(CollateralUnavailableError):
    """Only the cache was asked (no source) and it has nothing for this key."""

    def __init__(self, key: EntryKey) -> None:
        self.key = key
        super().__init__(f"the {key.description} is not cached and no source was given to fetch it")


class WaitTimeoutError(CollateralUnavailableError):
    """Another process held the fetch of this key for longer than its lease allows."""


class StoreError(PydcapError):
    """The persistent store cannot be opened or used (bad URL, unsupported database, newer schema)."""
