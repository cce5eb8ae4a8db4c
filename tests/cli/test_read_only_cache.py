"""A read-only or full cache directory degrades to read-only use with a one-line warning (issue 12, finding 9):
``pydcap verify --pccs`` succeeds when everything it needs is cached, its upstream down. The directory is made
read-only for real (``chattr +i`` as root, which even root cannot write; ``chmod`` otherwise), the disk full for
real (a small tmpfs filled to the last byte; skipped where mounting is not allowed)."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from pydcap.cache import CollateralStore, Entry, EntryKey, StoreError
from pydcap.cli import main
from tests.sources.pccs_replay import ReplayPccs
from tests.support.cli import SGX, run_pydcap, verify_args
from tests.support.testdata import real_bundle


@contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """``directory`` (and what is in it) cannot be written, by anyone, until the block ends."""
    if os.geteuid() != 0:
        directory.chmod(0o500)
        try:
            yield
        finally:
            directory.chmod(0o700)
        return
    if subprocess.run(["chattr", "+i", str(directory)], check=False, capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (root cannot be kept from writing otherwise)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=True)


@contextmanager
def full_disk(directory: Path, size: int) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes (rounded up to pages) at ``directory``, to be filled by the caller."""
    directory.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size // 1024 + 1}k", "tmpfs", str(directory)],
        check=False,
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill: {mounted.stderr.strip()!r}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def fill(directory: Path) -> None:
    """Write into ``directory`` until its file system has no byte left."""
    with (directory / "filler").open("wb", buffering=0) as f:
        for size in (65536, 4096, 1):
            with suppress(OSError):
                while True:
                    f.write(b"\0" * size)
    with pytest.raises(OSError) as caught, (directory / "probe").open("wb", buffering=0) as probe:
        probe.write(b"\0")
    assert caught.value.errno == errno.ENOSPC


def _populated(replay_pccs: ReplayPccs, cache: Path) -> None:
    assert main(verify_args(real_bundle(SGX), "--pccs", replay_pccs.url, "--cache", str(cache))) == 0


def _dead_url() -> str:
    down = ReplayPccs().start()
    down.stop()
    return down.url


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "read-only" in line]


def test_a_read_only_cache_directory_serves_what_it_holds_with_one_warning(
    replay_pccs: ReplayPccs, tmp_path: Path
) -> None:
    directory = tmp_path / "cache"
    directory.mkdir()
    cache = directory / "c.sqlite3"
    _populated(replay_pccs, cache)
    before = sorted(p.name for p in directory.iterdir())
    with read_only(directory):
        run = run_pydcap(verify_args(real_bundle(SGX), "--pccs", _dead_url(), "--cache", str(cache)))
    assert run.returncode == 0, run.stderr
    assert "ACCEPTED" in run.stdout
    assert len(_warnings(run.stderr)) == 1 and str(cache) in run.stderr, run.stderr
    assert sorted(p.name for p in directory.iterdir()) == before  # nothing was written beside it


def test_a_full_disk_serves_what_the_cache_holds_with_one_warning(replay_pccs: ReplayPccs, tmp_path: Path) -> None:
    staged = tmp_path / "staged.sqlite3"
    _populated(replay_pccs, staged)
    with full_disk(tmp_path / "full", staged.stat().st_size + 256 * 1024) as directory:
        cache = directory / "c.sqlite3"
        shutil.copyfile(staged, cache)
        fill(directory)
        run = run_pydcap(verify_args(real_bundle(SGX), "--pccs", _dead_url(), "--cache", str(cache)))
    assert run.returncode == 0, run.stderr
    assert "ACCEPTED" in run.stdout
    assert len(_warnings(run.stderr)) == 1, run.stderr


def test_a_read_only_store_keeps_nothing_and_refuses_to_be_cleared(replay_pccs: ReplayPccs, tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    directory.mkdir()
    cache = directory / "c.sqlite3"
    _populated(replay_pccs, cache)
    with read_only(directory), CollateralStore.open(cache) as store:
        assert store.read_only is not None and "cannot write it" in store.read_only
        (root_id, entry), *_ = store.entries()
        store.put(root_id, Entry(EntryKey.qve_identity(), b"{}", b"", 0, 1))  # kept nowhere, and no error
        assert store.get(root_id, EntryKey.qve_identity()) is None
        assert store.try_lease("x", "me", 10) is None  # nothing to share: the caller fetches alone
        assert store.get(root_id, entry.key) is not None
        with pytest.raises(StoreError, match="read-only"):
            store.clear()


def test_a_directory_that_cannot_be_written_and_holds_no_cache_is_still_an_error(tmp_path: Path) -> None:
    directory = tmp_path / "empty"
    directory.mkdir()
    with read_only(directory), pytest.raises(StoreError, match="cannot create the cache file"):
        CollateralStore.open(directory / "c.sqlite3")
