"""Intel QCNL's cache: a 20-entry in-memory LRU of checked items in front of files in ``.dcap-qcnl/`` under the
first usable of ``$AZDCAP_CACHE``, ``$XDG_CACHE_HOME``, ``$HOME``, ``$TMPDIR``, ``/tmp``: Intel's cache items, written
atomically and owner-only, reported as read from a file (to be checked); expired or unreadable ones are deleted.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydcap.provider.interface import CacheKind, LogCallback, LogLevel
from pydcap.provider.qcnl.cache_item import HEADER_SIZE, CachedResponse, CorruptCacheItem, ItemHeader
from pydcap.trust import BoundedCache

CACHE_ENTRIES = 20  # Intel's in-memory LRU size
DIRECTORY_NAME = ".dcap-qcnl"
LOCATION_VARIABLES = ("AZDCAP_CACHE", "XDG_CACHE_HOME", "HOME", "TMPDIR")
LAST_LOCATION = "/tmp"


def cache_locations(env: Mapping[str, str] | None = None) -> list[Path]:
    """The candidate directories, in Intel's order (unset or empty variables skipped)."""
    e = os.environ if env is None else env
    bases = [e[name] for name in LOCATION_VARIABLES if e.get(name)] + [LAST_LOCATION]
    return [Path(base) / DIRECTORY_NAME for base in bases]


@dataclass(frozen=True)
class CacheHit:
    """A fresh cached response, and where it was found: in memory, which holds only what this process checked
    before keeping it, or in its file, which anything able to write the directory may have written (another
    process, Intel's library), so it is to be checked before use."""

    response: CachedResponse
    from_file: bool


class QcnlCache:
    """QCNL's two-tier cache of raw items, by name (a URL's sha256, or a local PCK file's ``QEID_PCEID``).

    As Intel's library does, the directory is the first candidate that already exists, else the first one
    that can be created (non-recursively); unlike it, pydcap creates it owner-only (0700), writes items
    owner-only (0600) through a temporary file and a rename, and skips a directory writable by others or
    owned by someone other than this user or root. Without a usable directory the cache lives in memory.
    """

    def __init__(
        self,
        candidates: Sequence[Path],
        *,
        clock: Callable[[], float] = time.time,
        log: LogCallback | None = None,
        entries: int = CACHE_ENTRIES,
    ) -> None:
        self.candidates = tuple(candidates)
        self._clock = clock
        self._log = log
        self._memory: BoundedCache[bytes] = BoundedCache(entries)
        self._lock = threading.RLock()
        self._directory: Path | None = None
        self._creation_failed = False

    @classmethod
    def from_environment(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        log: LogCallback | None = None,
    ) -> QcnlCache:
        return cls(cache_locations(env), clock=clock, log=log)

    # ---- the directory -------------------------------------------------------------------------

    @property
    def directory(self) -> Path | None:
        """The directory in use: found among the candidates; None until one exists (see ``store``)."""
        with self._lock:
            if self._directory is None:
                self._directory = next((d for d in self.candidates if d.is_dir() and self._trusted(d)), None)
                if self._directory is not None:
                    self._say(LogLevel.INFO, f"[QCNL] using the cache directory {self._directory}")
            return self._directory

    def _directory_for_writing(self) -> Path | None:
        with self._lock:
            if self.directory is not None or self._creation_failed:
                return self._directory
            for candidate in self.candidates:
                try:
                    candidate.mkdir(mode=0o700)
                except OSError as exc:
                    self._say(LogLevel.DEBUG, f"[QCNL] cannot create cache directory {candidate}: {exc.strerror}")
                    continue
                self._say(LogLevel.INFO, f"[QCNL] made the cache directory {candidate}")
                self._directory = candidate
                return candidate
            self._creation_failed = True
            self._say(LogLevel.WARNING, "[QCNL] no usable cache directory: caching in memory only")
            return None

    def _trusted(self, directory: Path) -> bool:
        """Not writable by others, and owned by this user or root: anything else could plant answers."""
        if not hasattr(os, "geteuid"):
            return True
        try:
            st = directory.stat()
        except OSError:
            return False
        if st.st_uid not in (os.geteuid(), 0) or st.st_mode & 0o002:
            self._say(
                LogLevel.WARNING,
                f"[QCNL] ignoring cache directory {directory}: owned by uid {st.st_uid}, mode {st.st_mode & 0o777:o}",
            )
            return False
        return True

    # ---- raw items -----------------------------------------------------------------------------

    def load(self, name: str) -> bytes | None:
        """The item's bytes from memory, else from its file; None on a miss."""
        found = self._find(name)
        return found[0] if found is not None else None

    def _find(self, name: str) -> tuple[bytes, bool] | None:
        """The item's bytes and whether they come from its file. A file's bytes are not remembered in memory:
        the caller does that (``remember``) once it has checked them."""
        name = name.lower()
        with self._lock:
            value = self._memory.get(name)
            if value is not None:
                self._say(LogLevel.DEBUG, "[QCNL] answered from the memory cache")
                return value, False
            directory = self.directory
            if directory is None:
                return None
            try:
                value = (directory / name).read_bytes()
            except FileNotFoundError:
                return None
            except OSError as exc:
                self._say(LogLevel.WARNING, f"[QCNL] cannot read cache file {directory / name}: {exc.strerror}")
                return None
            self._say(LogLevel.INFO, f"[QCNL] answered from the cache directory {directory}")
            return value, True

    def remember(self, name: str, value: bytes) -> None:
        """Keep the item in memory only (one read from its file and checked since)."""
        with self._lock:
            self._memory.put(name.lower(), value)

    def store(self, name: str, value: bytes) -> None:
        """Keep the item in memory and, atomically and owner-only, in its file."""
        name = name.lower()
        with self._lock:
            self._memory.put(name, value)
            directory = self._directory_for_writing()
            if directory is None:
                return
            try:
                _write_atomically(directory / name, value)
            except OSError as exc:
                self._say(LogLevel.ERROR, f"[QCNL] cannot write cache file {directory / name}: {exc.strerror}")

    def remove(self, name: str) -> None:
        """Forget the item in memory and delete its file (a file that cannot be deleted is reported: the
        callers only remove what they will not serve, so it is never served either)."""
        name = name.lower()
        with self._lock:
            self._memory.pop(name)
            directory = self.directory
            if directory is None:
                return
            try:
                (directory / name).unlink(missing_ok=True)
            except OSError as exc:
                self._say(LogLevel.WARNING, f"[QCNL] cannot delete cache file {directory / name}: {exc.strerror}")

    def clear(self, kinds: CacheKind = CacheKind.ALL) -> None:
        """Forget every item whose cache type is among ``kinds``, in memory and on disk (``sgx_qpl_clear_cache``;
        Intel's library leaves its memory tier alone, which serves cleared items until they are evicted)."""
        with self._lock:
            for name, value in self._memory.items():
                if _kind_of(value) & kinds:
                    self._memory.pop(name)
            directory = self.directory
            if directory is None:
                return
            try:
                paths = list(directory.iterdir())
            except OSError as exc:
                self._say(LogLevel.ERROR, f"[QCNL] cannot list the cache directory {directory}: {exc.strerror}")
                return
            for path in paths:
                try:
                    if path.is_file() and _kind_of(_head(path)) & kinds:
                        path.unlink()
                except OSError as exc:
                    self._say(LogLevel.WARNING, f"[QCNL] cannot clear cache file {path}: {exc.strerror}")

    # ---- responses -----------------------------------------------------------------------------

    def lookup(self, key: str) -> CacheHit | None:
        """A fresh cached response; an expired or unreadable item is deleted and counts as a miss."""
        found = self._find(key)
        if found is None:
            return None
        value, from_file = found
        try:
            item = CachedResponse.decode(value)
        except CorruptCacheItem as exc:
            self.discard(key, f"corrupt ({exc})")
            return None
        if self._clock() >= item.expiry:
            self.discard(key, "expired")
            return None
        return CacheHit(item, from_file)

    def keep(self, key: str, kind: CacheKind, headers: Mapping[str, str], body: bytes, expiry: int) -> None:
        """Cache a (checked) response until ``expiry`` (unix seconds), in memory and in its file."""
        self.store(key, CachedResponse.create(kind, expiry, headers, body).encode())
        seconds = expiry - int(self._clock())
        self._say(LogLevel.INFO, f"[QCNL] keeping the {kind.name} answer {key} for {seconds} s")

    def discard(self, name: str, why: str) -> None:
        self._say(LogLevel.INFO, f"[QCNL] dropping cache item {name}: {why}")
        self.remove(name)

    def _say(self, level: LogLevel, message: str) -> None:
        if self._log is not None:
            self._log(level, message)


def _kind_of(value: bytes) -> int:
    try:
        return ItemHeader.read(value).kind
    except CorruptCacheItem:
        return 0  # as Intel: an item without a readable header is never cleared


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(HEADER_SIZE)


def _write_atomically(path: Path, value: bytes) -> None:
    """Readers, in this process or another, see the old item or the new one, never a part of either."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(value)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
