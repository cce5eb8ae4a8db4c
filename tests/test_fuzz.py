"""The fuzz targets of ``fuzz/`` (atheris): every fuzz-found input kept in ``fuzz/regressions/TARGET/`` is
replayed through its target, and a short coverage-guided run of all the targets at once, seeded from the real
bundles, finds nothing. ``make fuzz`` runs each target for longer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.testdata import ROOT, require_testdata

REGRESSIONS = ROOT / "fuzz" / "regressions"
SHORT_RUN_SECONDS = 6


def _regressions() -> list[object]:
    return [
        pytest.param(d.name, f, id=f"{d.name}/{f.name[:12]}")
        for d in sorted(REGRESSIONS.iterdir())
        for f in sorted(d.iterdir())
    ]


@pytest.mark.parametrize(("target", "path"), _regressions())
def test_fuzz_found_inputs_stay_handled(target: str, path: Path) -> None:
    require_testdata()
    from fuzz.targets import TARGETS

    TARGETS[target](path.read_bytes())


def test_a_short_fuzz_run_of_every_target_finds_nothing(tmp_path: Path) -> None:
    require_testdata()
    run = subprocess.run(
        [sys.executable, "-m", "fuzz.run", "all", str(tmp_path / "corpus"), f"-max_total_time={SHORT_RUN_SECONDS}",
         "-timeout=20", f"-artifact_prefix={tmp_path}/"],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=SHORT_RUN_SECONDS + 120,
    )  # fmt: skip
    crashes = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert run.returncode == 0 and not crashes, f"{crashes}\n{run.stderr[-4000:]}"
    assert "Done" in run.stderr
