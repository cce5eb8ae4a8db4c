"""The cache's own failures: a document refused by verification, a miss where only the cache may answer,
and a store that cannot be opened or used."""

from __future__ import annotations

from pydcap.errors import CollateralError, CollateralUnavailableError, PydcapError
from pydcap.intel import EntryKey, Failure


class UntrustedCollateralError(CollateralError):
    """Bad data: a document that came and was refused: it does not verify against the trust root, is not the document
    asked for, or (``OutdatedCollateralError``) is older than the one held. It was neither stored nor served.
    ``failure`` is Intel's name for the check that failed, when there is one."""

    def __init__(self, key: EntryKey, reason: str, *, source: str = "", failure: Failure | None = None) -> None:
        self.key = key
        self.reason = reason
        self.source = source
        self.failure = failure
        super().__init__(self._describe())

    def _describe(self) -> str:
        named = f" [{self.failure.value}]" if self.failure is not None else ""
        origin = f" from {self.source}" if self.source else ""
        return (
            f"refused the {self.key.description}{origin}: {self.reason}{named}. It was not cached; the source serves "
            "collateral that does not verify against the trust root, so check which service it is"
        )


class OutdatedCollateralError(UntrustedCollateralError):
    """An authentic document older than the verified one already held for its key (a lower TCB evaluation data
    number or CRL number, or an earlier issue date at the same number): a replay that would hide what came after
    it. It was not stored; the newer one is kept."""

    def _describe(self) -> str:
        origin = f" from {self.source}" if self.source else ""
        return f"refused the {self.key.description}{origin}: {self.reason}; the newer one is kept"


class NotCachedError(CollateralUnavailableError):
    """Only the cache was asked (no source) and it has nothing for this key."""

    def __init__(self, key: EntryKey) -> None:
        self.key = key
        super().__init__(f"the {key.description} is not cached and no source was given to fetch it")


class WaitTimeoutError(CollateralUnavailableError):
    """Another process held the fetch of this key for longer than its lease allows."""


class StoreError(PydcapError):
    """The persistent store cannot be opened or used (bad URL, unsupported database, newer schema, a database that
    failed). When the database failed, ``reason`` is its own words and ``busy`` says whether another connection
    held the lock it needed (SQLite's BUSY or LOCKED), set where the driver raised it."""

    def __init__(self, message: str, *, reason: str | None = None, busy: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.busy = busy
