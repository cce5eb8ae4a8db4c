"""Single flight: concurrent requests for one key in one process share one piece of work.

Works across threads and event loops: the first caller (the leader) runs the work as a task of its own
loop; everyone else waits on a ``concurrent.futures.Future``. A caller that gives up (is cancelled) does
not cancel the work the others wait for.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Hashable, concurrent.futures.Future[T]] = {}
        self.joined = 0

    async def run(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
        """``work()``'s result, computed once for all callers that ask for ``key`` while it runs."""
        with self._lock:
            future = self._flights.get(key)
            leader = future is None
            if future is None:
                future = concurrent.futures.Future()
                self._flights[key] = future
            else:
                self.joined += 1
        if leader:
            task = asyncio.get_running_loop().create_task(self._lead(key, future, work))
            # If the leader's caller gives up, the task still completes for the others; its failure is
            # theirs to see, so mark it retrieved rather than have asyncio log it.
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            return await asyncio.shield(task)
        return await asyncio.shield(asyncio.wrap_future(future))

    async def _lead(self, key: Hashable, future: concurrent.futures.Future[T], work: Callable[[], Awaitable[T]]) -> T:
        try:
            result = await work()
        except BaseException as exc:
            future.set_exception(exc)
            raise
        else:
            future.set_result(result)
            return result
        finally:
            with self._lock:
                self._flights.pop(key, None)
