"""A process SIGKILLed in the middle of writing leaves a store that opens, is sound, and serves what it had."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

from pydcap import verify_quote
from pydcap.cache import AsyncCollateralService, CollateralCache, CollateralStore
from tests.cache.bundle_source import BundleSource
from tests.support.testdata import REAL, require_testdata

WRITER = textwrap.dedent(
    """
    import os, sys
    from pydcap.cache import CollateralStore, Entry, EntryKey
    from pydcap.cache.owners import new_owner
    store = CollateralStore.open(sys.argv[1])
    owner = new_owner()
    assert store.try_lease(sys.argv[2] + "/busy", owner, 3600) is None
    print("leased", flush=True)
    n = 0
    while True:
        key = EntryKey.pck_certificate(f"{n:08x}/{'00' * 16}/0000/0000")
        blob = os.urandom(256 * 1024)
        store.put(sys.argv[2], Entry(key, blob, blob[:1024], 0, 2**40, "writer"), count="writes")
        n += 1
        print(n, flush=True)
    """
)


def test_sigkill_during_writes_leaves_a_usable_store(target: str) -> None:
    require_testdata()
    b = next(x for x in REAL if x.name == "phala-sgx-v3")
    source = BundleSource(b)
    with CollateralStore.open(target) as store:
        cache = CollateralCache(store, clock=lambda: b.at)
        asyncio.run(AsyncCollateralService(source, cache).fetch(b.quote))
        root_id = cache.root_id

    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, target, root_id], stdout=subprocess.PIPE, text=True, env={**os.environ}
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "leased"
    committed = 0
    deadline = time.monotonic() + 60
    while committed < 15 and time.monotonic() < deadline:
        committed = int(child.stdout.readline())
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert committed >= 15

    with CollateralStore.open(target) as store:
        assert store.integrity_check() == "ok"
        written = store.counters().get("writes", 0)
        assert written >= committed
        assert len(store.entries(kind="pck_certificate")) == written, "each write is all or nothing"
        assert store.lease(f"{root_id}/busy") is None, "the dead writer's lease is free at once"
        source.down = True
        cache = CollateralCache(store, clock=lambda: b.at)
        served = asyncio.run(AsyncCollateralService(source, cache).fetch(b.quote))
        assert set(served.origins.values()) == {"store"} and not served.stale_parts
        result = verify_quote(b.quote, served.collateral, at=b.at)
        assert result.tcb_status is not None and result.tcb_status.value == b.expected["tcb_status"]
    assert source.total() == 4
