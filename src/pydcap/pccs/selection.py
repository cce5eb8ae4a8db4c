"""Intel's PCK certificate selection: the raw TCB's level (TCB levels sorted highest first), then the highest
certificate of that level at or below the raw TCB. ``v8_sort`` compares in V8's order, so inputs fail exactly
where Intel's PCCS fails (incomparable TCBs); ``select_certificate`` then falls back to TCB-info order."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydcap.intel.tcb import Incomparable, Tcb

# Tcb and Incomparable are Intel's vocabulary (pydcap.intel); re-exported for code written before they moved.
__all__ = ["Incomparable", "SelectionError", "Tcb", "intel_select", "select_certificate", "v8_sort"]

T = TypeVar("T")
log = logging.getLogger("pydcap.pccs")


class SelectionError(ValueError):
    """No certificate can be selected; the message says why."""


def _count_and_make_run(items: list[T], low: int, high: int, compare: Callable[[T, T], int]) -> int:
    if low + 1 == high:
        return 1
    descending = compare(items[low + 1], items[low]) < 0
    previous = items[low + 1]
    length = 2
    for index in range(low + 2, high):
        order = compare(items[index], previous)
        if (descending and order >= 0) or (not descending and order < 0):
            break
        previous = items[index]
        length += 1
    if descending:
        items[low : low + length] = reversed(items[low : low + length])
    return length


def _binary_insertion_sort(items: list[T], low: int, start: int, high: int, compare: Callable[[T, T], int]) -> None:
    start = start + 1 if start == low else start
    for index in range(start, high):
        pivot = items[index]
        left, right = low, index
        while left < right:
            mid = left + ((right - left) >> 1)
            if compare(pivot, items[mid]) < 0:
                right = mid
            else:
                left = mid + 1
        items[left + 1 : index + 1] = items[left:index]
        items[left] = pivot


def _min_run(n: int) -> int:
    extra = 0
    while n >= 64:
        extra |= n & 1
        n >>= 1
    return n + extra


def v8_sort(values: Sequence[T], compare: Callable[[T, T], int]) -> list[T]:
    """``Array.prototype.sort`` as V8 runs it: the same comparisons in the same order below 64 elements
    (runs of ``minrun`` are then merged stably, with other comparisons than V8's galloping merge)."""
    items = list(values)
    n = len(items)
    if n < 2:
        return items
    minimum = _min_run(n)
    runs: list[tuple[int, int]] = []
    low = 0
    while low < n:
        length = _count_and_make_run(items, low, n, compare)
        if length < minimum:
            forced = min(minimum, n - low)
            _binary_insertion_sort(items, low, low + length, low + forced, compare)
            length = forced
        runs.append((low, length))
        low += length
    while len(runs) > 1:
        (a, la), (_, lb) = runs[0], runs[1]
        left, right = items[a : a + la], items[a + la : a + la + lb]
        merged: list[T] = []
        i = j = 0
        while i < len(left) and j < len(right):
            if compare(right[j], left[i]) < 0:
                merged.append(right[j])
                j += 1
            else:
                merged.append(left[i])
                i += 1
        merged += left[i:] + right[j:]
        items[a : a + la + lb] = merged
        runs[:2] = [(a, la + lb)]
    return items


def _highest_first(x: tuple[Tcb, T] | Tcb, y: tuple[Tcb, T] | Tcb) -> int:
    tx = x[0] if isinstance(x, tuple) else x
    ty = y[0] if isinstance(y, tuple) else y
    return ty.compare(tx)


@dataclass
class _Bucket(Generic[T]):
    tcb: Tcb
    certificates: list[tuple[Tcb, T]]


def intel_select(raw: Tcb, levels: Sequence[Tcb], certificates: Sequence[tuple[Tcb, T]]) -> T:
    """Intel's choice, or ``SelectionError`` / ``Incomparable`` where Intel's PCCS fails (it answers 404)."""
    buckets: list[_Bucket[T]] = [_Bucket(tcb, []) for tcb in v8_sort(levels, _highest_first)]
    for tcb, item in certificates:
        for bucket in buckets:
            try:
                if tcb.compare(bucket.tcb) >= 0:
                    bucket.certificates.append((tcb, item))
                    break
            except Incomparable:
                break  # Intel drops a certificate it cannot place
    equivalent = next((b for b in buckets if b.tcb.at_or_below(raw)), None)
    if equivalent is None:
        raise SelectionError(f"the raw TCB {raw.tcbm} is below every TCB level of the platform's FMSPC")
    for tcb, item in v8_sort(equivalent.certificates, _highest_first):
        if raw.compare(tcb) >= 0:
            return item
    raise SelectionError(
        f"no PCK certificate at the TCB level {equivalent.tcb.tcbm} is at or below the raw TCB {raw.tcbm}"
    )


def _document_order_select(raw: Tcb, levels: Sequence[Tcb], certificates: Sequence[tuple[Tcb, T]]) -> T:
    """Where TCB levels are not totally ordered: the first level (in TCB-info order, as the verifier matches
    them) at or below the raw TCB, and the highest certificate between it and the raw TCB."""
    for level in levels:
        if not level.at_or_below(raw):
            continue
        fitting = [(tcb, item) for tcb, item in certificates if level.at_or_below(tcb) and tcb.at_or_below(raw)]
        if fitting:
            return max(fitting, key=lambda pair: pair[0].values)[1]
    raise SelectionError(f"no PCK certificate is at or below the raw TCB {raw.tcbm} and at a TCB level")


def select_certificate(raw: Tcb, levels: Sequence[Tcb], certificates: Sequence[tuple[Tcb, T]]) -> T:
    """Intel's choice; where Intel's algorithm fails only because TCBs are incomparable, the TCB-info-order
    choice instead (Intel's PCCS would answer 404 there), logged as such."""
    try:
        return intel_select(raw, levels, certificates)
    except Incomparable as exc:
        chosen = _document_order_select(raw, levels, certificates)
        log.info("PCK selection: Intel's algorithm fails here (%s); used the TCB-info order instead", exc)
        return chosen
