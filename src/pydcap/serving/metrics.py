"""Counters and latency histograms for ``/metrics``, in Prometheus' text exposition format.

Plain dictionaries updated from the event loop (no locks, no file I/O on the request path). With several
worker processes behind one port, ``WorkerSnapshots`` lets whichever worker is scraped answer with the totals
of all of them, through a private directory where each worker publishes its numbers.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import secrets
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

log = logging.getLogger("pydcap.serving")

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

    def add(self, counts: list[int], total: float, n: int) -> None:
        if len(counts) != len(self.counts):
            raise ValueError(f"a histogram has {len(self.counts)} buckets, not {len(counts)}")
        self.counts = [a + b for a, b in zip(self.counts, counts, strict=True)]
        self.total += total
        self.n += n


def _labels(**labels: str) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + inner + "}" if inner else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """What a pydcap service counts: requests by endpoint and status, cache hits and misses by endpoint, upstream
    requests by endpoint and outcome with their latency, refreshes. Rendered under ``prefix`` (``pydcap_pccs``
    for the PCCS, ``pydcap_attest`` for the attestation service)."""

    def __init__(self, prefix: str = "pydcap_pccs") -> None:
        self.prefix = prefix
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

    def copy(self) -> Metrics:
        """The numbers as they are now (call it from the event loop, which alone updates most of them)."""
        copied = Metrics(self.prefix)
        copied.add(self)
        return copied

    def add(self, other: Metrics) -> None:
        """Add ``other``'s numbers to these: counts and histograms are summed, label sets united."""
        with other._lock:
            upstream = list(other.upstream.items())
            latency = [(k, list(h.counts), h.total, h.n) for k, h in other.upstream_latency.items()]
        for request, n in list(other.requests.items()):
            self.requests[request] += n
        for lookup, n in list(other.cache.items()):
            self.cache[lookup] += n
        for outcome, n in list(other.refreshes.items()):
            self.refreshes[outcome] += n
        with self._lock:
            for call, n in upstream:
                self.upstream[call] += n
            for endpoint, counts, total, n in latency:
                self.upstream_latency[endpoint].add(counts, total, n)

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            upstream = [[endpoint, outcome, n] for (endpoint, outcome), n in self.upstream.items()]
            latency = [[endpoint, h.counts, h.total, h.n] for endpoint, h in self.upstream_latency.items()]
        return {
            "requests": [[endpoint, status, n] for (endpoint, status), n in self.requests.items()],
            "cache": [[endpoint, result, n] for (endpoint, result), n in self.cache.items()],
            "upstream": upstream,
            "upstream_seconds": latency,
            "refreshes": [[outcome, n] for outcome, n in self.refreshes.items()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], prefix: str = "pydcap_pccs") -> Metrics:
        """What ``to_json`` wrote; ValueError, TypeError or KeyError if it is not that."""
        metrics = cls(prefix)
        for endpoint, status, n in data["requests"]:
            metrics.requests[(str(endpoint), int(status))] += int(n)
        for endpoint, result, n in data["cache"]:
            metrics.cache[(str(endpoint), str(result))] += int(n)
        for endpoint, outcome, n in data["upstream"]:
            metrics.upstream[(str(endpoint), str(outcome))] += int(n)
        for endpoint, counts, total, n in data["upstream_seconds"]:
            metrics.upstream_latency[str(endpoint)].add([int(c) for c in counts], float(total), int(n))
        for outcome, n in data["refreshes"]:
            metrics.refreshes[str(outcome)] += int(n)
        return metrics

    def render(self) -> str:
        p = self.prefix
        lines = [
            f"# HELP {p}_requests_total HTTP requests answered, by endpoint and status.",
            f"# TYPE {p}_requests_total counter",
        ]
        for (endpoint, status), n in sorted(self.requests.items()):
            lines.append(f"{p}_requests_total{_labels(endpoint=endpoint, status=str(status))} {n}")
        lines += [
            f"# HELP {p}_cache_total Collateral lookups: hit (memory or store) or miss (upstream or none).",
            f"# TYPE {p}_cache_total counter",
        ]
        for (endpoint, result), n in sorted(self.cache.items()):
            lines.append(f"{p}_cache_total{_labels(endpoint=endpoint, result=result)} {n}")
        with self._lock:
            upstream = sorted(self.upstream.items())
            latency = {k: (list(h.counts), h.total, h.n) for k, h in self.upstream_latency.items()}
        lines += [
            f"# HELP {p}_upstream_requests_total Requests to the upstream, by endpoint and outcome.",
            f"# TYPE {p}_upstream_requests_total counter",
        ]
        for (endpoint, outcome), n in upstream:
            lines.append(f"{p}_upstream_requests_total{_labels(endpoint=endpoint, outcome=outcome)} {n}")
        lines += [
            f"# HELP {p}_upstream_seconds Latency of upstream PCS requests (with retries).",
            f"# TYPE {p}_upstream_seconds histogram",
        ]
        for endpoint, (counts, total, n) in sorted(latency.items()):
            running = 0
            for bound, count in zip((*map(str, BUCKETS), "+Inf"), counts, strict=True):
                running += count
                lines.append(f"{p}_upstream_seconds_bucket{_labels(endpoint=endpoint, le=bound)} {running}")
            lines.append(f"{p}_upstream_seconds_sum{_labels(endpoint=endpoint)} {total:.6f}")
            lines.append(f"{p}_upstream_seconds_count{_labels(endpoint=endpoint)} {n}")
        lines += [
            f"# HELP {p}_refreshes_total Cache refreshes run, by outcome.",
            f"# TYPE {p}_refreshes_total counter",
        ]
        for outcome, n in sorted(self.refreshes.items()):
            lines.append(f"{p}_refreshes_total{_labels(outcome=outcome)} {n}")
        return "\n".join(lines) + "\n"


class WorkerSnapshots:
    """A directory private to one server run where each worker process keeps its numbers in its own file
    (``<pid>-<nonce>.json``, replaced atomically), so that the worker answering ``/metrics`` can report the
    totals of all workers. Files of exited workers stay: a worker replaced by uvicorn takes no counts away.

    Files only grow (a worker writes its snapshots in the order it took them), and after a scrape each file
    holds at least what the scrape counted for its worker (``total`` writes the scraped worker's own numbers
    before adding the other files): so the totals never go backwards from one scrape to the next. The methods
    do blocking file I/O: call them outside the event loop, one at a time and in the order the snapshots were
    taken.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.pid = os.getpid()
        self.name = f"{self.pid}-{secrets.token_hex(4)}.json"  # the nonce: a pid may be reused in a long run
        self._written = ""

    def publish(self, own: Metrics) -> None:
        """Write ``own`` as this worker's file, unless it holds exactly that already."""
        text = json.dumps({"pid": self.pid, **own.to_json()}, separators=(",", ":"))
        if text == self._written:
            return
        temporary = self.directory / f".{self.name}.tmp"
        try:
            temporary.write_text(text)
            os.replace(temporary, self.directory / self.name)
        except OSError as exc:
            log.warning("could not publish this worker's metrics in %s: %s", self.directory, exc)
            return
        self._written = text

    def total(self, own: Metrics) -> Metrics:
        """Publish ``own``, then add to it the last numbers published by every other worker."""
        self.publish(own)
        try:
            paths = [p for p in self.directory.glob("*.json") if p.name != self.name]
        except OSError:  # the directory is gone: the server is stopping
            paths = []
        for path in paths:
            try:
                own.add(Metrics.from_json(json.loads(path.read_text()), own.prefix))
            except FileNotFoundError:
                continue
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.warning("ignoring the metrics of another worker in %s: %s", path, exc)
        return own
