"""Counters and latency histograms for ``/metrics``, in Prometheus' text exposition format.

Plain dictionaries updated from the event loop (no locks on the request path); each process of the server
reports its own numbers, as Prometheus expects of a multi-process service scraped per instance.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds
        self.n += 1


def _labels(**labels: str) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + inner + "}" if inner else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """What the PCCS counts: requests by endpoint and status, cache hits and misses by endpoint, upstream
    requests by endpoint and outcome with their latency, documents refused, refreshes."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.cache: dict[tuple[str, str], int] = defaultdict(int)
        self.upstream: dict[tuple[str, str], int] = defaultdict(int)
        self.upstream_latency: dict[str, Histogram] = defaultdict(Histogram)
        self.refreshes: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()  # only for the upstream numbers, which worker threads may update

    def request(self, endpoint: str, status: int) -> None:
        self.requests[(endpoint, status)] += 1

    def cache_result(self, endpoint: str, result: str) -> None:
        self.cache[(endpoint, result)] += 1

    def upstream_call(self, endpoint: str, outcome: str, seconds: float) -> None:
        with self._lock:
            self.upstream[(endpoint, outcome)] += 1
            self.upstream_latency[endpoint].observe(seconds)

    def refresh(self, outcome: str) -> None:
        self.refreshes[outcome] += 1

    def render(self) -> str:
        lines = [
            "# HELP pydcap_pccs_requests_total HTTP requests answered, by endpoint and status.",
            "# TYPE pydcap_pccs_requests_total counter",
        ]
        for (endpoint, status), n in sorted(self.requests.items()):
            lines.append(f"pydcap_pccs_requests_total{_labels(endpoint=endpoint, status=str(status))} {n}")
        lines += [
            "# HELP pydcap_pccs_cache_total Collateral lookups: hit (memory or store) or miss (upstream or none).",
            "# TYPE pydcap_pccs_cache_total counter",
        ]
        for (endpoint, result), n in sorted(self.cache.items()):
            lines.append(f"pydcap_pccs_cache_total{_labels(endpoint=endpoint, result=result)} {n}")
        with self._lock:
            upstream = sorted(self.upstream.items())
            latency = {k: (list(h.counts), h.total, h.n) for k, h in self.upstream_latency.items()}
        lines += [
            "# HELP pydcap_pccs_upstream_requests_total Requests to the upstream PCS, by endpoint and outcome.",
            "# TYPE pydcap_pccs_upstream_requests_total counter",
        ]
        for (endpoint, outcome), n in upstream:
            lines.append(f"pydcap_pccs_upstream_requests_total{_labels(endpoint=endpoint, outcome=outcome)} {n}")
        lines += [
            "# HELP pydcap_pccs_upstream_seconds Latency of upstream PCS requests (with retries).",
            "# TYPE pydcap_pccs_upstream_seconds histogram",
        ]
        for endpoint, (counts, total, n) in sorted(latency.items()):
            running = 0
            for bound, count in zip((*map(str, BUCKETS), "+Inf"), counts, strict=True):
                running += count
                lines.append(f"pydcap_pccs_upstream_seconds_bucket{_labels(endpoint=endpoint, le=bound)} {running}")
            lines.append(f"pydcap_pccs_upstream_seconds_sum{_labels(endpoint=endpoint)} {total:.6f}")
            lines.append(f"pydcap_pccs_upstream_seconds_count{_labels(endpoint=endpoint)} {n}")
        lines += [
            "# HELP pydcap_pccs_refreshes_total Cache refreshes run, by outcome.",
            "# TYPE pydcap_pccs_refreshes_total counter",
        ]
        for outcome, n in sorted(self.refreshes.items()):
            lines.append(f"pydcap_pccs_refreshes_total{_labels(outcome=outcome)} {n}")
        return "\n".join(lines) + "\n"
