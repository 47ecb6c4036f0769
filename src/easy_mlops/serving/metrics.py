"""Prometheus metrics of the server, correct with several worker processes.

The server always runs prometheus_client in multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, set by the parent before any worker starts), so
one scrape of any worker sums every worker's counters. Buckets start at half a
millisecond: scikit-learn scores a row in well under prometheus_client's
default first bucket of 5 ms.
"""

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

PREFIX = "easy_mlops"
SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
ROWS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
MAX_CLASS_LABELS = 50  # predicted classes beyond these count as "other"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ServerMetrics:
    """The server's metrics, created in each worker process after it started."""

    def __init__(self) -> None:
        self.requests = Counter(
            f"{PREFIX}_requests", "HTTP requests by endpoint and status", ["endpoint", "code"]
        )
        self.request_seconds = Histogram(
            f"{PREFIX}_request_seconds", "Time to answer a request", ["endpoint"], buckets=SECONDS
        )
        self.scoring_seconds = Histogram(
            f"{PREFIX}_scoring_seconds", "Time of one batch's predict", buckets=SECONDS
        )
        self.batch_rows = Histogram(
            f"{PREFIX}_batch_rows", "Rows scored together in one predict", buckets=ROWS
        )
        self.in_flight = Gauge(
            f"{PREFIX}_in_flight_requests", "Requests being answered", multiprocess_mode="livesum"
        )
        self.predictions = Counter(
            f"{PREFIX}_predictions", "Predictions served, by predicted class", ["predicted"]
        )
        self.model_info = Gauge(
            f"{PREFIX}_model_info",
            "The deployment being served",
            ["name", "version"],
            multiprocess_mode="livemax",
        )
        self.classes: set[str] = set()

    def served(self, predictions: Any, is_classifier: bool) -> None:
        """Count a batch's predictions: by class for a classifier (a bounded set of labels)."""
        import numpy as np

        if not is_classifier:
            self.predictions.labels(predicted="value").inc(len(predictions))
            return
        values, counts = np.unique(np.asarray(predictions).astype(str), return_counts=True)
        for value, count in zip(values.tolist(), counts.tolist(), strict=True):
            if value not in self.classes and len(self.classes) >= MAX_CLASS_LABELS:
                value = "other"
            else:
                self.classes.add(value)
            self.predictions.labels(predicted=value).inc(count)

    def serving(self, name: str, version: str, previous: tuple[str, str] | None = None) -> None:
        if previous is not None:
            self.model_info.labels(name=previous[0], version=previous[1]).set(0)
        self.model_info.labels(name=name, version=version).set(1)


def scrape() -> bytes:
    """Every worker's metrics, summed, in the Prometheus text format."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def worker_exited(pid: int) -> None:
    """Drop a finished worker's live gauges (in-flight requests, model info)."""
    multiprocess.mark_process_dead(pid)
