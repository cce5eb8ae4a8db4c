"""PCK certificate selection: Intel's rule against an independent statement of it (hypothesis), V8's sort
order against V8 itself (node, when installed), and the real TCB info whose levels Intel cannot sort."""

from __future__ import annotations

import functools
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pydcap.pccs.selection import Incomparable, SelectionError, Tcb, intel_select, select_certificate, v8_sort
from tests.support.selection import expected_choice
from tests.support.testdata import TESTDATA


def tcb(values: list[int] | tuple[int, ...]) -> Tcb:
    return Tcb(tuple(values[:16]), values[16])


@st.composite
def chains(draw: st.DrawFn) -> list[Tcb]:
    """A strictly increasing chain of TCBs (each one higher than the last in at least one component)."""
    current = draw(st.lists(st.integers(0, 4), min_size=17, max_size=17))
    chain = [tcb(current)]
    for _ in range(draw(st.integers(1, 14))):
        bumped = list(current)
        for index in draw(st.sets(st.integers(0, 16), min_size=1, max_size=4)):
            bumped[index] += draw(st.integers(1, 3))
        current = bumped
        chain.append(tcb(current))
    return chain


@settings(max_examples=300, deadline=None)
@given(chain=chains(), data=st.data())
def test_intel_rule_matches_its_independent_statement(chain: list[Tcb], data: st.DataObject) -> None:
    levels = data.draw(st.lists(st.sampled_from(chain), min_size=1, unique=True))
    certs = data.draw(st.lists(st.sampled_from(chain), min_size=1, unique=True))
    base = data.draw(st.sampled_from(chain))
    raw = tcb([max(0, v + data.draw(st.integers(-2, 2))) for v in base.values])
    expected = expected_choice(raw, levels, certs)
    if isinstance(expected, Tcb):
        assert intel_select(raw, levels, [(c, c) for c in certs]) == expected
    else:
        with pytest.raises(expected):
            intel_select(raw, levels, [(c, c) for c in certs])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 20), max_size=150))
def test_v8_sort_is_a_stable_sort_for_total_orders(values: list[int]) -> None:
    items = list(enumerate(values))

    def descending(x: tuple[int, int], y: tuple[int, int]) -> int:
        return (y[1] > x[1]) - (y[1] < x[1])

    assert v8_sort(items, descending) == sorted(items, key=functools.cmp_to_key(descending))


_NODE_SORT = """
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = cases.map(items => {
  try {
    const sorted = items.slice().sort((x, y) => {
      let lower = false, higher = false;
      for (let i = 0; i < y.length; i++) { if (y[i] < x[i]) lower = true; else if (y[i] > x[i]) higher = true; }
      if (lower && higher) throw new Error('incomparable');
      return lower ? -1 : higher ? 1 : 0;
    });
    return sorted;
  } catch (e) { return null; }
});
process.stdout.write(JSON.stringify(out));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node (V8) is not installed to compare with")
def test_v8_sort_throws_where_v8_throws_and_sorts_as_v8_sorts() -> None:
    rng = random.Random(5)
    cases = [[[rng.randint(0, 3) for _ in range(3)] for _ in range(rng.randint(2, 40))] for _ in range(400)]
    result = subprocess.run(
        ["node", "-e", _NODE_SORT], input=json.dumps(cases), capture_output=True, text=True, check=True
    )
    for items, v8 in zip(cases, json.loads(result.stdout), strict=True):
        tcbs = [Tcb((a, b, *[0] * 14), c) for a, b, c in items]  # two components that differ, the rest zero

        def highest_first(x: Tcb, y: Tcb) -> int:
            return y.compare(x)

        try:
            ours = [[*t.components[:2], t.pce_svn] for t in v8_sort(tcbs, highest_first)]
        except Incomparable:
            ours = None
        assert ours == v8, items


def _levels(path: Path) -> list[Tcb]:
    info = json.loads(path.read_text())["tcbInfo"]
    return [
        Tcb(tuple(c["svn"] for c in lvl["tcb"]["sgxtcbcomponents"]), lvl["tcb"]["pcesvn"]) for lvl in info["tcbLevels"]
    ]


def test_real_tcb_info_that_intels_sort_cannot_order_falls_back_to_tcb_info_order() -> None:
    path = TESTDATA / "real" / "teepot-azure" / "collateral" / "tcb_info.json"
    if not path.exists():
        pytest.skip(f"{path} is not there")
    levels = _levels(path)
    certs = [(lvl, lvl.tcbm) for lvl in levels]
    raw = Tcb(levels[1].components, levels[1].pce_svn)  # the ConfigurationAndSWHardeningNeeded level exactly
    with pytest.raises(Incomparable):  # Intel's PCCS answers 404 for every platform of this FMSPC
        intel_select(raw, levels, certs)
    assert select_certificate(raw, levels, certs) == levels[1].tcbm
    highest = Tcb(tuple(min(255, v + 1) for v in levels[0].components), levels[0].pce_svn)
    assert select_certificate(highest, levels, certs) == levels[0].tcbm


def test_nothing_at_or_below_the_raw_tcb_is_a_selection_error() -> None:
    level = Tcb((2,) * 16, 5)
    with pytest.raises(SelectionError, match="below every TCB level"):
        select_certificate(Tcb((1,) * 16, 5), [level], [(level, "cert")])


def test_tcbm_round_trip() -> None:
    t = Tcb(tuple(range(16)), 0x0D01)
    assert t.tcbm == "000102030405060708090A0B0C0D0E0F010D"
    assert Tcb.from_tcbm(t.tcbm) == t
