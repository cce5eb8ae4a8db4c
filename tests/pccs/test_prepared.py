"""The PCCS's prepared answers (its fast path) are bounded by bytes (``PreparedAnswerCacheSize``), not by count: a
client naming the same document with ever new query strings cannot make the PCCS hold thousands of copies."""

from __future__ import annotations

from pydcap.pccs import load_config
from tests.support.pccs import V4, Factory, client

LIMIT = 128 * 1024


def test_prepared_answers_are_bounded_by_bytes(make_pccs: Factory) -> None:
    pccs = make_pccs(prepared_answer_bytes=LIMIT)
    with client(pccs) as c:
        first = c.get(f"{V4}/tcb", params={"fmspc": "00906ED50000"})
        assert first.status_code == 200
        for n in range(120):  # the same document, each time under a new key (an unknown parameter)
            again = c.get(f"{V4}/tcb", params={"fmspc": "00906ED50000", "n": str(n)})
            assert again.status_code == 200 and again.content == first.content
        held = pccs.app.fast.items()
        assert sum(len(p.reply.body) for _, p in held) <= LIMIT
        assert 120 * len(first.content) > 2 * LIMIT  # without the bound, far more would be held
        # The least recently served went; the most recent answer is still ready, and served from there.
        assert (f"{V4}/tcb", b"fmspc=00906ED50000&n=119") in dict(held)
        assert (f"{V4}/tcb", b"fmspc=00906ED50000") not in dict(held)


def test_the_bound_is_configured_as_intel_writes_sizes() -> None:
    assert load_config(environ={}).prepared_answer_bytes == 32 * 1024 * 1024
    assert load_config(environ={}, overrides={"PreparedAnswerCacheSize": "2MB"}).prepared_answer_bytes == 2 * 2**20
    assert load_config(environ={"PYDCAP_PCCS_PREPARED_ANSWER_CACHE_SIZE": "512kb"}).prepared_answer_bytes == 512 * 1024
