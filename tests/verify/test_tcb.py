"""The pure TCB rules: status merge table, TD relaunch rule, TDX component matching."""

from __future__ import annotations

import pytest

from pydcap.intel.outcomes import TcbStatus as S
from pydcap.verify.tcb import converge, relaunch

UTD, SWH, CN, CASWH = (
    S.UP_TO_DATE,
    S.SW_HARDENING_NEEDED,
    S.CONFIGURATION_NEEDED,
    S.CONFIGURATION_AND_SW_HARDENING_NEEDED,
)
OOD, OODCN, REV = S.OUT_OF_DATE, S.OUT_OF_DATE_CONFIGURATION_NEEDED, S.REVOKED

# Intel's table: platform level x (all components UpToDate | any OutOfDate | any Revoked)
TABLE = {
    UTD: (UTD, OOD, REV),
    SWH: (SWH, OOD, REV),
    CN: (CN, OODCN, REV),
    CASWH: (CASWH, OODCN, REV),
    OOD: (OOD, OOD, REV),
    OODCN: (OODCN, OODCN, REV),
    REV: (REV, REV, REV),
}


@pytest.mark.parametrize("platform", list(TABLE))
def test_merge_table(platform: S) -> None:
    all_up, any_ood, any_rev = TABLE[platform]
    assert converge(platform, [UTD]) == all_up
    assert converge(platform, [UTD, UTD]) == all_up
    assert converge(platform, [OOD]) == any_ood
    assert converge(platform, [UTD, OOD]) == any_ood
    assert converge(platform, [REV]) == any_rev
    assert converge(platform, [OOD, REV]) == any_rev


@pytest.mark.parametrize(
    ("launch", "current", "expected"),
    [
        (OOD, UTD, S.TD_RELAUNCH_ADVISED),
        (OOD, SWH, S.TD_RELAUNCH_ADVISED),
        (OOD, CN, S.TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED),
        (OOD, CASWH, S.TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED),
        (OODCN, UTD, S.TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED),
        (OOD, OOD, OOD),
        (OODCN, OODCN, OODCN),
        (OOD, REV, OOD),
        (UTD, UTD, UTD),
        (SWH, OOD, SWH),
        (REV, UTD, REV),
    ],
)
def test_relaunch_rule(launch: S, current: S, expected: S) -> None:
    assert relaunch(launch, current) == expected
