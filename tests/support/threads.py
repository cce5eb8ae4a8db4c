"""Running a task in many threads at once, for tests of what must hold under concurrency."""

from __future__ import annotations

import threading
from collections.abc import Callable


def run_together(task: Callable[[int], object], count: int, timeout: float = 60.0) -> None:
    """Run ``task(0)`` ... ``task(count - 1)`` in as many threads, released at once; re-raise the first error.
    A thread that fails or hangs fails the test (it never leaves the others waiting forever)."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout)
            task(i)
        except BaseException as exc:  # handed to the test below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    if any(t.is_alive() for t in threads):
        raise AssertionError(f"a thread did not finish within {timeout} s")
    if errors:
        first = next((e for e in errors if not isinstance(e, threading.BrokenBarrierError)), errors[0])
        raise first
