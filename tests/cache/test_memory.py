"""The memory tier is bounded by bytes as well as by entries: large documents push out the least recently used."""

from __future__ import annotations

from pydcap.cache import Entry, EntryKey
from pydcap.cache.memory import ENTRY_OVERHEAD, MemoryTier


def _entry(fmspc: int, size: int) -> Entry:
    return Entry(EntryKey.tcb_info("sgx", fmspc.to_bytes(6, "big")), b"x" * size, b"", 0, 1)


def test_bytes_bound_the_memory_tier_least_recently_used_first() -> None:
    tier = MemoryTier(maxsize=1000, max_bytes=10 * (10_000 + ENTRY_OVERHEAD))
    for i in range(10):
        tier.put(str(i), _entry(i, 10_000))
    assert len(tier) == 10
    assert tier.get("0") is not None  # now the most recently used
    tier.put("big", _entry(99, 35_000))
    assert len(tier) == 7 and tier.bytes <= tier.max_bytes
    assert tier.get("0") is not None and tier.get("1") is None and tier.get("4") is None and tier.get("5") is not None


def test_an_entry_larger_than_the_whole_bound_is_not_kept_and_replacing_one_keeps_the_count_right() -> None:
    tier = MemoryTier(maxsize=10, max_bytes=50_000)
    tier.put("a", _entry(1, 1000))
    tier.put("a", _entry(1, 2000))
    assert tier.bytes == 2000 + ENTRY_OVERHEAD
    tier.put("huge", _entry(2, 60_000))
    assert tier.get("huge") is None and len(tier) == 1
    tier.clear()
    assert tier.bytes == 0 and len(tier) == 0
