"""Prometheus metrics under TF Serving's names (`/tensorflow/serving/...` -> `:tensorflow:serving:...`).

prometheus-client appends `_total` to counter samples, so TF Serving's
`:tensorflow:serving:request_count` is exported as `:tensorflow:serving:request_count_total`.
Latencies are in microseconds with TF Serving's bucket layouts.
"""
from __future__ import annotations

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram

CONTENT_TYPE = "text/plain"  # what TF Serving's exporter sends


def exponential_buckets(scale: float, growth: float, count: int) -> list[float]:
    """monitoring::Buckets::Exponential: `count` limits scale*growth^i, then +Inf."""
    return [scale * growth**i for i in range(count)] + [float("inf")]


class ServingMetrics:
    """One server's metrics, in a registry of its own."""

    def __init__(self) -> None:
        prometheus_client.disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=True)
        latency_buckets = exponential_buckets(10, 1.8, 33)
        batch_size_buckets = exponential_buckets(1, 2, 14)
        self.request_count = Counter(
            ":tensorflow:serving:request_count", "The total number of requests.",
            ["model_name", "status"], registry=self.registry)
        self.request_latency = Histogram(
            ":tensorflow:serving:request_latency",
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            ["model_name", "API", "entrypoint"], buckets=latency_buckets, registry=self.registry)
        self.runtime_latency = Histogram(
            ":tensorflow:serving:runtime_latency",
            "Distribution of wall time (in microseconds) for Tensorflow runtime.",
            ["model_name", "API", "runtime"], buckets=latency_buckets, registry=self.registry)
        self.batch_runs = Counter(
            ":tensorflow:serving:batching_session:wrapped_run_count",
            "Total count of run calls on the wrapped session", registry=self.registry)
        self.queuing_latency = Histogram(
            ":tensorflow:serving:batching_session:queuing_latency",
            "Distribution of wall time spent (in microseconds) in queuing",
            ["thread_pool_name"], buckets=exponential_buckets(100, 1.2, 52), registry=self.registry)
        self.input_batch_size = Histogram(
            ":tensorflow:serving:batching_session:input_batch_size",
            "Tracks the batch size distribution on the inputs.", buckets=batch_size_buckets, registry=self.registry)
        self.processed_batch_size = Histogram(
            ":tensorflow:serving:batching_session:processed_batch_size",
            "Tracks the batch size distribution on processing.", buckets=batch_size_buckets, registry=self.registry)

    def record_request(self, model_name: str, api: str, entrypoint: str, status: str, latency_us: float) -> None:
        """RecordModelRequestCount always; RecordRequestLatency only for successes, as TF Serving does."""
        self.request_count.labels(model_name, status).inc()
        if status == "OK":
            self.request_latency.labels(model_name, api, entrypoint).observe(latency_us)

    def record_runtime(self, model_name: str, api: str, latency_us: float) -> None:
        # "TF1" is TF Serving's runtime label for the (non-TFRT) TensorFlow runtime.
        self.runtime_latency.labels(model_name, api, "TF1").observe(latency_us)

    def render(self) -> bytes:
        return prometheus_client.generate_latest(self.registry)
