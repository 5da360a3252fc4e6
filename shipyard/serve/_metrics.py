"""Prometheus metrics of the server (docs/serving.md lists them).

With several worker processes, ``PROMETHEUS_MULTIPROC_DIR`` is set before the
workers start and a scrape sums every worker's files; with one worker the
metrics live in this process.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    """The server's metric families, registered in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        r = self.registry
        self.requests = Counter(
            "shipyard_inference_requests",
            "Inference requests answered, by model, version and HTTP status.",
            ["model", "version", "status"],
            registry=r,
        )
        self.duration = Histogram(
            "shipyard_inference_request_duration_seconds",
            "Time from reading a request to its answer, by model and protocol.",
            ["model", "protocol"],
            buckets=_LATENCY,
            registry=r,
        )
        self.batch_size = Histogram(
            "shipyard_inference_batch_size",
            "Requests combined into one model call.",
            ["model"],
            buckets=_BATCH,
            registry=r,
        )
        self.queue_depth = Gauge(
            "shipyard_inference_queue_depth",
            "Requests waiting for a batch after the last batch formed.",
            ["model"],
            multiprocess_mode="livesum",
            registry=r,
        )
        self.in_flight = Gauge(
            "shipyard_inference_in_flight",
            "Inference requests being answered.",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.rejected = Counter(
            "shipyard_inference_overload_rejections",
            "Requests answered 503 because the worker was at its concurrency limit.",
            registry=r,
        )
        self.load_failures = Counter(
            "shipyard_model_load_failures",
            "Versions the registry named that failed to load or warm (the old one kept serving).",
            ["model", "version"],
            registry=r,
        )
        self.log_dropped = Counter(
            "shipyard_prediction_log_dropped_rows",
            "Prediction log rows dropped because the log's queue was full.",
            registry=r,
        )

        self.shadow = Counter(
            "shipyard_shadow_requests",
            "Requests mirrored to a shadow version, by outcome: agree, disagree, error, skipped.",
            ["model", "version", "outcome"],
            registry=r,
        )

    def render(self) -> bytes:
        """The text exposition format, summed over workers in multiprocess mode."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
