"""Imports are atomic (issue 12, finding 7): ``pydcap pccs import`` and ``PUT platformcollateral``, killed with
SIGKILL at several moments of a 60-platform import, leave either the whole file stored or nothing of it. The
moments are while the file is verified (before anything is written) and while the store's write-ahead log grows
(at a third, two thirds and all of what a whole import writes), whatever the machine's speed."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from pydcap.sim import SimulatedIntel
from tests.support.pccs import ADMIN, V4, admin_tool_file, serving

PLATFORMS = 60
# When to kill: ("time", f) after f of a whole import's duration; ("log", f) once the write-ahead log holds f of
# what a whole import writes.
KILL_AT = (("time", 0.3), ("log", 0.33), ("log", 0.66), ("log", 1.0))


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    intel = SimulatedIntel(seed=12)
    platforms = [intel.sgx_platform(name=f"atomic-{i}") for i in range(PLATFORMS)]
    directory = tmp_path_factory.mktemp("atomic")
    (directory / "collateral.json").write_text(json.dumps(admin_tool_file(intel, platforms, api=4)))
    (directory / "root.pem").write_bytes(intel.root_pem)
    return directory / "collateral.json", directory / "root.pem"


def stored(db: Path) -> tuple[int, int]:
    """(documents, platforms) in the store, as the next process to open it sees them."""
    if not db.exists():
        return 0, 0
    with sqlite3.connect(db) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "pydcap_pccs_platforms" not in tables:
            return 0, 0
        documents = conn.execute("SELECT count(*) FROM pydcap_entries").fetchone()[0]
        platforms = conn.execute("SELECT count(*) FROM pydcap_pccs_platforms").fetchone()[0]
    return int(documents), int(platforms)


def log_size(db: Path) -> int:
    wal = db.with_name(db.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def kill_when(process: subprocess.Popen[Any], db: Path, *, seconds: float, log_at: int | None = None) -> None:
    """SIGKILL ``process`` once the write-ahead log of ``db`` holds ``log_at`` bytes, or after ``seconds`` (or once
    it ended by itself)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        if log_at is not None and log_size(db) >= log_at:
            break
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()


def import_command(file: Path, root: Path, db: Path) -> list[str]:
    return [sys.executable, "-m", "pydcap", "pccs", "import", str(file), "--db", str(db), "--root-ca", str(root)]


def test_a_killed_import_leaves_the_whole_file_or_nothing(big_file: tuple[Path, Path], tmp_path: Path) -> None:
    file, root = big_file
    started, written = time.monotonic(), 0
    whole_db = tmp_path / "whole.sqlite3"
    process = subprocess.Popen(import_command(file, root, whole_db), stdout=subprocess.DEVNULL)
    while process.poll() is None:  # the log is gone once the last connection closed: watch it while it grows
        written = max(written, log_size(whole_db))
        time.sleep(0.002)
    duration = time.monotonic() - started
    assert process.returncode == 0 and written > 0
    whole = stored(tmp_path / "whole.sqlite3")
    assert whole[1] == PLATFORMS and whole[0] > 0
    outcomes = []
    for i, at in enumerate(KILL_AT):
        db = tmp_path / f"killed-{i}.sqlite3"
        process = subprocess.Popen(import_command(file, root, db), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kind, fraction = at
        if kind == "time":
            kill_when(process, db, seconds=duration * fraction)
        else:
            kill_when(process, db, seconds=duration * 3, log_at=int(written * fraction))
        outcomes.append(stored(db))
    assert all(outcome in ((0, 0), whole) for outcome in outcomes), (whole, outcomes)


def test_a_server_killed_during_put_platformcollateral_serves_the_whole_file_or_nothing(
    big_file: tuple[Path, Path], tmp_path: Path
) -> None:
    file, root = big_file
    body = file.read_bytes()
    outcomes = []
    duration, written = 0.0, 0
    for i, at in enumerate((None, ("time", 0.3), ("log", 0.5), ("log", 1.0))):
        directory = tmp_path / f"server-{i}"
        directory.mkdir()
        args = ["--mode", "OFFLINE", "--insecure-http", "--root-ca", str(root)]
        with serving(args, directory) as (process, port, _lines):

            def put(port: int = port) -> None:
                with contextlib.suppress(httpx.TransportError):  # killed
                    url = f"http://127.0.0.1:{port}{V4}/platformcollateral"
                    httpx.put(url, content=body, headers=ADMIN, timeout=60)

            before = log_size(directory / "db.sqlite3")
            sender = threading.Thread(target=put)
            started = time.monotonic()
            sender.start()
            if at is None:  # the whole import, to time and measure it
                sender.join()
                duration, written = time.monotonic() - started, log_size(directory / "db.sqlite3") - before
            else:
                kind, fraction = at
                db = directory / "db.sqlite3"
                if kind == "time":
                    kill_when(process, db, seconds=duration * fraction)
                else:
                    kill_when(process, db, seconds=duration * 3, log_at=before + int(written * fraction))
                sender.join()
        outcomes.append(stored(directory / "db.sqlite3"))
    whole = outcomes[0]
    assert whole[1] == PLATFORMS
    assert all(outcome in ((0, 0), whole) for outcome in outcomes[1:]), (whole, outcomes)
