"""PCK certificate selection end to end: platforms of generated FMSPCs with many TCB levels, certified by
a simulated Intel, asked for at many raw TCBs; the PCCS's choice is the one Intel's rule states."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from types import MappingProxyType

import pytest

from pydcap.pccs.selection import Tcb
from pydcap.sim import FmspcEntry, FmspcTcb, SimulatedIntel, TcbLevelSpec
from pydcap.sim import catalog as cat
from pydcap.sim.server import SimulatedPcs
from tests.support.pccs import V4, Factory, client, pckcert_params
from tests.support.selection import expected_choice

FMSPCS = [bytes.fromhex(f"00A0{n:02X}110000") for n in range(3)]


def chain_levels(rng: random.Random, count: int) -> tuple[TcbLevelSpec, ...]:
    values = [rng.randint(1, 3) for _ in range(16)] + [rng.randint(3, 6)]
    chain = [list(values)]
    for _ in range(count - 1):
        for index in rng.sample(range(17), rng.randint(1, 3)):
            values[index] += rng.randint(1, 2)
        chain.append(list(values))
    chain.reverse()  # highest first, as Intel publishes them
    return tuple(
        TcbLevelSpec(
            tuple(v[:16]), v[16], "UpToDate" if i == 0 else "OutOfDate", f"20{24 - min(i, 20):02d}-01-01T00:00:00Z"
        )
        for i, v in enumerate(chain)
    )


@pytest.fixture(scope="module")
def many_levels() -> Iterator[tuple[SimulatedIntel, SimulatedPcs]]:
    rng = random.Random(11)
    catalog = cat.default_catalog()
    for i, fmspc in enumerate(FMSPCS):
        levels = chain_levels(rng, 8 + 4 * i)
        early = levels if i != 1 else levels[1:]  # one FMSPC whose early evaluation drops the top level
        tcb = MappingProxyType({cat.STANDARD_EVALUATION: FmspcTcb(levels), cat.EARLY_EVALUATION: FmspcTcb(early)})
        catalog = catalog.with_fmspc(FmspcEntry(fmspc, "E5", tcb))
    intel = SimulatedIntel(seed=3, catalog=catalog)
    with SimulatedPcs(intel) as pcs:
        yield intel, pcs


def as_tcb(level: dict[str, object]) -> Tcb:
    tcb = level["tcb"]
    assert isinstance(tcb, dict)
    return Tcb(tuple(c["svn"] for c in tcb["sgxtcbcomponents"]), tcb["pcesvn"])


@pytest.mark.parametrize("fmspc", FMSPCS, ids=lambda f: f.hex())
def test_choice_across_raw_tcbs(
    make_pccs: Factory, many_levels: tuple[SimulatedIntel, SimulatedPcs], root_file: object, fmspc: bytes
) -> None:
    intel, pcs = many_levels
    import pathlib

    root = pathlib.Path(str(root_file)).with_name(f"root-{fmspc.hex()}.pem")
    root.write_bytes(intel.root_pem)
    pccs = make_pccs(upstream=pcs.url, root_ca=str(root), name=fmspc.hex())
    platform = intel.sgx_platform(name=f"levels-{fmspc.hex()}", fmspc=fmspc)
    levels = [as_tcb(level) for level in json.loads(intel.tcb_info(fmspc, update="early"))["tcbInfo"]["tcbLevels"]]
    certs = {
        Tcb(tuple(t[f"sgxtcbcomp{i:02d}svn"] for i in range(1, 17)), t["pcesvn"]): pem
        for t, _, pem in intel.pck_certificates(platform)
    }
    rng = random.Random(fmspc.hex())
    raws = [tcb for tcb in certs]
    raws += [
        Tcb(tuple(max(0, c + rng.randint(-1, 1)) for c in t.components), max(0, t.pce_svn + rng.randint(-1, 1)))
        for t in rng.choices(list(certs), k=40)
    ]
    seen = {"chosen": 0, "none": 0}
    with client(pccs) as c:
        for raw in raws:
            answer = c.get(
                f"{V4}/pckcert", params=pckcert_params(platform, cpu_svn=bytes(raw.components), pce_svn=raw.pce_svn)
            )
            expected = expected_choice(raw, levels, list(certs))
            if isinstance(expected, Tcb):
                assert answer.status_code == 200, (raw, answer.text)
                assert answer.headers["SGX-TCBm"] == expected.tcbm
                assert answer.content == certs[expected]
                seen["chosen"] += 1
            else:
                assert answer.status_code == 404, (raw, answer.text)
                assert "fits the raw TCB" in answer.text
                seen["none"] += 1
    assert seen["chosen"] >= len(certs) - 1  # every certified TCB selects (the dropped top level may not)
