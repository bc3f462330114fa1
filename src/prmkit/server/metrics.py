"""``/metrics``: Prometheus exposition through ``prometheus_client``, one ``CollectorRegistry`` per app.

Requests are counted by route template (the app's fixed set of paths; every other path is ``unmatched``)
and status, so a client can neither grow the exposition nor write into it. The batcher's counters are read
at scrape time from ``MicroBatcher.stats``, so batching knows nothing about Prometheus.
"""

from __future__ import annotations

from typing import Any, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["Metrics", "UNMATCHED", "CONTENT_TYPE"]

UNMATCHED = "unmatched"  # the path label of every request that matches no route
CONTENT_TYPE = CONTENT_TYPE_LATEST

# (name without _total, MicroBatcher.stats key, help)
_BATCHER_COUNTERS = (
    ("prmkit_scored_items", "items", "Solutions scored and answered."),
    ("prmkit_scorer_batches", "batches", "Scorer calls that succeeded."),
    ("prmkit_scorer_failed_batches", "failed_batches", "Scorer calls that failed and were retried request by request."),
    ("prmkit_failed_requests", "failed_requests", "Requests the scorer could not score (answered 4xx/5xx)."),
    ("prmkit_request_timeouts", "timeouts", "Requests answered 504 because scores took longer than the timeout."),
    ("prmkit_unscored_items", "unscored", "Solutions with no scored step (null reward), e.g. past max length."),
)


class _BatcherCollector:
    def __init__(self, batcher: Any) -> None:
        self.batcher = batcher

    def collect(self) -> Iterator[Any]:
        for name, key, doc in _BATCHER_COUNTERS:
            yield CounterMetricFamily(name, doc, value=self.batcher.stats[key])
        yield GaugeMetricFamily("prmkit_batcher_up", "1 while the batcher is healthy (see /health).",
                                value=1.0 if self.batcher.health()[0] else 0.0)


class Metrics:
    """The app's metrics: ``observe`` one answered request, ``render`` the exposition."""

    def __init__(self, batcher: Any) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("prmkit_requests", "HTTP requests by route template and status.",
                                ["path", "status"], registry=self.registry)
        self.seconds = Histogram("prmkit_request_seconds", "Request latency by route template.", ["path"],
                                 registry=self.registry)
        self.registry.register(_BatcherCollector(batcher))

    def observe(self, path: str, status: int, seconds: float) -> None:
        self.requests.labels(path=path, status=str(status)).inc()
        self.seconds.labels(path=path).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
