"""Prometheus metrics for /metrics, with prometheus_client (its text format, its histograms).

Each server has its own registry, so two servers in one process (tests) never share counters, and
the process-wide default registry (with its GC and platform collectors) stays out of the output.
Route labels are the fixed endpoint paths, never the raw URL: a scanner probing random paths cannot
blow up the number of series.
"""

from __future__ import annotations

from typing import Iterable

from .batching import BatchHooks

ROUTES = ("/v1/embeddings", "/v1/rerank", "/v1/models", "/info", "/metrics", "/health", "/health/live",
          "/health/ready")
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


def route_label(path: str) -> str:
    """The endpoint a path belongs to, or ``other``."""
    return path if path in ROUTES else "other"


class ServeMetrics:
    """The server's instruments, in a registry of their own."""

    def __init__(self, models: Iterable[str]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

        disable_created_metrics()  # the *_created series double the output and no dashboard reads them
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("stcompat_serve_requests", "HTTP requests answered, by endpoint and status.",
                                ["route", "status"], registry=r)
        self.latency = Histogram("stcompat_serve_request_duration_seconds", "Time from request to response.",
                                 ["route"], buckets=_LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("stcompat_serve_requests_in_flight", "Requests being handled now.", registry=r)
        self.batch = Histogram("stcompat_serve_batch_size", "Inputs per backend call (one micro-batch cycle).",
                               ["model"], buckets=_BATCH_BUCKETS, registry=r)
        self.busy = Counter("stcompat_serve_encode_seconds", "Seconds the workers spent in backend calls "
                            "(divided by wall time and instances: how busy the model is).", ["model"], registry=r)
        self.queue = Gauge("stcompat_serve_queue_depth", "Inputs waiting for a worker.", ["model"], registry=r)
        self.inputs = Counter("stcompat_serve_inputs", "Inputs encoded (texts or rerank pairs).", ["model"],
                              registry=r)
        self.tokens = Counter("stcompat_serve_tokens", "Tokens the model read (usage).", ["model"], registry=r)
        self.cancelled = Counter("stcompat_serve_cancelled_inputs",
                                 "Inputs withdrawn before encoding because the client went away.", ["model"],
                                 registry=r)
        self.unsafe = Gauge("stcompat_serve_unsafe_override",
                            "1 when the model was started with --allow-unsafe over a refusal.", ["model"], registry=r)
        for name in models:  # every series exists from the start, so a dashboard sees zeros, not gaps
            self.queue.labels(name).set(0)
            self.inputs.labels(name)
            self.tokens.labels(name)
            self.cancelled.labels(name)
            self.busy.labels(name)
            self.unsafe.labels(name).set(0)

    def hooks(self, model: str) -> BatchHooks:
        """The batcher's callbacks for one model."""
        batch, queue, cancelled = self.batch.labels(model), self.queue.labels(model), self.cancelled.labels(model)
        return BatchHooks(batch=batch.observe, depth=queue.set, cancelled=cancelled.inc,
                          busy=self.busy.labels(model).inc)

    def observe(self, route: str, status: int, seconds: float) -> None:
        """One answered request."""
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
