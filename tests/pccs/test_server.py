"""Running the PCCS: a server stopped lets go of what it opened (the store's connections)."""

from __future__ import annotations

from sqlalchemy.pool import QueuePool

from pydcap.sim import SimulatedIntel
from tests.support.pccs import V4, Factory, client


def test_stopping_the_server_closes_the_store_it_opened(make_pccs: Factory, intel: SimulatedIntel) -> None:
    pccs = make_pccs()
    with client(pccs) as c:
        assert c.get(f"{V4}/tcb", params={"fmspc": intel.sgx_platform().fmspc.hex()}).status_code == 200
    engine = pccs.app.service.store.engine
    assert isinstance(engine.pool, QueuePool) and engine.pool.checkedin() > 0
    pccs.stop()
    assert isinstance(engine.pool, QueuePool) and engine.pool.checkedin() == 0
