"""Intel's PCK certificate selection rule, stated independently of its implementation (for property tests)."""

from __future__ import annotations

from pydcap.intel import Incomparable, Tcb
from pydcap.pccs.selection import SelectionError


def expected_choice(raw: Tcb, levels: list[Tcb], certs: list[Tcb]) -> Tcb | type[Exception]:
    """Intel's rule for totally ordered TCBs, said without buckets or sorting: the highest level at or below
    the raw TCB; the certificates whose highest level reached is that one; of those, from the highest down,
    the first at or below the raw TCB (Intel gives up at one it cannot compare with the raw TCB)."""
    reached = [lvl for lvl in levels if lvl.at_or_below(raw)]
    if not reached:
        return SelectionError
    best = max(reached, key=lambda t: sum(t.values))  # a chain: the largest sum is the highest
    home = [
        c
        for c in certs
        if max((lvl for lvl in levels if lvl.at_or_below(c)), key=lambda t: sum(t.values), default=None) == best
    ]
    for c in sorted(home, key=lambda t: sum(t.values), reverse=True):
        if c.at_or_below(raw):
            return c
        if not raw.at_or_below(c):
            return Incomparable
    return SelectionError
