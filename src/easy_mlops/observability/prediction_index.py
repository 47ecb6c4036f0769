"""The running summary beside a predictions log, so summaries cost the same for ten rows or ten million.

A :class:`PredictionBatch` is what one ``log_predictions`` call adds: its JSON
Lines text and its contribution to the :class:`PredictionIndex` (totals,
first and last timestamps, the last five records, class counts, running
numeric statistics and a uniform sample for quantiles). The index records how
many bytes and lines of the log it covers, so a reader can catch up from there.
"""

import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from easy_mlops.jsonsafe import json_input, json_values, now, numeric_values

if TYPE_CHECKING:  # numpy is imported where predictions are added, not where the index is read
    import numpy as np

INDEX_VERSION = 1
LINES_PER_WRITE = 50_000
RESERVOIR_SIZE = 2048
MAX_CLASSES = 100  # more distinct values than this and predictions are not classes
RECENT = 5


@dataclass
class RunningStats:
    """Count, mean, sum of squared deviations, min and max, merged batch by batch."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    low: float | None = None
    high: float | None = None

    def merge(self, values: "np.ndarray") -> None:
        """Chan et al.'s parallel update with a batch of ``values``."""
        n, batch_mean = values.size, float(values.mean())
        batch_m2 = float(((values - batch_mean) ** 2).sum())
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean += delta * n / total
        self.m2 += batch_m2 + delta * delta * self.count * n / total
        self.low = float(values.min()) if self.low is None else min(self.low, float(values.min()))
        self.high = float(values.max()) if self.high is None else max(self.high, float(values.max()))
        self.count = total

    def combine(self, other: "RunningStats") -> None:
        """Chan et al.'s update with another summary (another writer's values)."""
        if other.count == 0:
            return
        if self.count == 0:
            self.count, self.mean, self.m2, self.low, self.high = (
                other.count,
                other.mean,
                other.m2,
                other.low,
                other.high,
            )
            return
        total = self.count + other.count
        delta = other.mean - self.mean
        self.mean += delta * other.count / total
        self.m2 += other.m2 + delta * delta * self.count * other.count / total
        self.low, self.high = min(self.low, other.low), max(self.high, other.high)
        self.count = total

    def summary(self) -> dict[str, float]:
        std = math.sqrt(self.m2 / self.count) if self.count else 0.0
        return {"count": self.count, "mean": self.mean, "std": std, "min": self.low, "max": self.high}

    @classmethod
    def of(cls, values: list[float]) -> "RunningStats":
        import numpy as np

        stats = cls()
        if values:
            stats.merge(np.asarray(values, dtype=float))
        return stats


@dataclass
class PredictionIndex:
    """What ``status`` shows about the predictions log, kept up to date as batches are appended."""

    log_bytes: int = 0  # how much of the log this index covers
    lines: int = 0
    total: int = 0
    first: str | None = None
    last: str | None = None
    recent: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] | None = field(default_factory=dict)  # None: too many values to be classes
    numeric: RunningStats = field(default_factory=RunningStats)
    reservoir: list[list[float]] = field(default_factory=list)  # [random key, value], smallest keys kept
    log_tail: str | None = None  # a hash of the covered log's last bytes

    def add(
        self, values: list, first: Any, last: Any, recent: list, numbers: "np.ndarray | None" = None
    ) -> None:
        """Fold in ``values`` in time proportional to their number.

        ``numbers`` are the numeric ones among ``values`` when the caller has them already.
        """
        self.total += len(values)
        self.first = self.first or first
        self.last = last
        self.recent = (self.recent + recent)[-RECENT:]
        if self.counts is not None:
            # Count raw values, then encode each distinct one: one json.dumps per class, not per row.
            for value, count in Counter(values).items():
                key = value if isinstance(value, str) else json.dumps(value)
                self.counts[key] = self.counts.get(key, 0) + count
            if len(self.counts) > MAX_CLASSES:
                self.counts = None
        if numbers is None:
            numbers = numeric_values(None, values)
        if numbers.size:
            self.numeric.merge(numbers)
            self.reservoir = _merge_sample(self.reservoir, numbers, self.total)

    def add_records(self, records: list[dict[str, Any]]) -> None:
        """Fold in records read back from the log (lines are counted by the reader)."""
        if records:
            values = [record.get("prediction") for record in records]
            self.add(values, records[0].get("timestamp"), records[-1].get("timestamp"), records[-RECENT:])

    def merge(self, other: "PredictionIndex") -> None:
        """Fold in the index of other predictions (another writer's, or a later segment's): totals and
        class counts add up exactly; numbers by their running statistics and a merged sample."""
        if other.total == 0:
            return
        self.total += other.total
        self.lines += other.lines
        self.first = min(filter(None, (self.first, other.first)), default=None)
        self.last = max(filter(None, (self.last, other.last)), default=None)
        recent = sorted(self.recent + other.recent, key=lambda record: str(record.get("timestamp", "")))
        self.recent = recent[-RECENT:]
        if self.counts is None or other.counts is None:
            self.counts = None
        else:
            for key, count in other.counts.items():
                self.counts[key] = self.counts.get(key, 0) + count
            if len(self.counts) > MAX_CLASSES:
                self.counts = None
        self.numeric.combine(other.numeric)
        self.reservoir = sorted(self.reservoir + other.reservoir, key=lambda pair: pair[0])[:RESERVOIR_SIZE]

    def distribution(self) -> dict[str, Any]:
        """Class counts when predictions look like classes, else mean, std and quantiles of the numbers
        among them; nothing for none yet, or for more than ``MAX_CLASSES`` labels and no numbers."""
        if self.total == 0:
            return {}
        if self.counts is not None and (self.numeric.count == 0 or len(self.counts) <= 20):
            return {"kind": "classes", "counts": dict(sorted(self.counts.items(), key=lambda kv: -kv[1]))}
        if self.numeric.count == 0:
            return {}
        sample = sorted(value for _, value in self.reservoir)
        quantiles = {
            f"p{round(q * 100)}": sample[min(len(sample) - 1, round(q * (len(sample) - 1)))]
            for q in (0.05, 0.25, 0.5, 0.75, 0.95)
        }
        return {
            "kind": "numeric",
            **self.numeric.summary(),
            "quantiles": quantiles,
            "quantiles_exact": self.numeric.count <= RESERVOIR_SIZE,
        }

    def summary(self) -> dict[str, Any]:
        """The guide's predictions summary keys, plus the distribution."""
        return {
            "total_predictions": self.total,
            "first_prediction": self.first,
            "last_prediction": self.last,
            "recent_predictions": self.recent,
            "distribution": self.distribution(),
        }

    def to_json(self) -> dict[str, Any]:
        stats = self.numeric
        return {
            "version": INDEX_VERSION,
            "log_bytes": self.log_bytes,
            "lines": self.lines,
            "total": self.total,
            "first": self.first,
            "last": self.last,
            "recent": self.recent,
            "counts": self.counts,
            "numeric": [stats.count, stats.mean, stats.m2, stats.low, stats.high],
            "reservoir": self.reservoir,
            "log_tail": self.log_tail,
        }

    @classmethod
    def from_json(cls, data: Any) -> "PredictionIndex | None":
        """The index stored as ``data``, or None when it is not one this version wrote."""
        try:
            if data.get("version") != INDEX_VERSION:
                return None
            return cls(
                log_bytes=int(data["log_bytes"]),
                lines=int(data["lines"]),
                total=int(data["total"]),
                first=data["first"],
                last=data["last"],
                recent=list(data["recent"]),
                counts=data["counts"],
                numeric=RunningStats(*data["numeric"]),
                reservoir=list(data["reservoir"]),
                log_tail=data.get("log_tail"),
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            return None


def _merge_sample(sample: list, values: "np.ndarray", seed: int) -> list:
    """A uniform sample of every value seen: keep the values with the smallest random keys."""
    import numpy as np

    keys = np.random.default_rng(seed).random(values.size)
    if values.size > RESERVOIR_SIZE:
        keep = np.argpartition(keys, RESERVOIR_SIZE)[:RESERVOIR_SIZE]
        keys, values = keys[keep], values[keep]
    merged = sample + [[float(k), float(v)] for k, v in zip(keys, values, strict=True)]
    merged.sort(key=lambda pair: pair[0])
    return merged[:RESERVOIR_SIZE]


class PredictionBatch:
    """Predictions logged together: one timestamp, version and metadata for all rows."""

    def __init__(
        self,
        predictions: Any,
        model_version: str,
        metadata: dict | None = None,
        timestamp: str | None = None,
        first_row: int = 0,
        inputs: list | None = None,
    ) -> None:
        self.values = json_values(predictions)
        self.dtype_kind = getattr(getattr(predictions, "dtype", None), "kind", None)  # numpy's, when an array
        self.inputs = [json_input(value) for value in inputs] if inputs is not None else None
        self.numbers = numeric_values(predictions, self.values)
        self.model_version = str(model_version)
        self.metadata = metadata or None
        self.timestamp = timestamp or now()
        self.first_row = first_row

    def record(self, position: int) -> dict[str, Any]:
        record = {
            "timestamp": self.timestamp,
            "model_version": self.model_version,
            "row": self.first_row + position,
            "prediction": self.values[position],
        }
        if self.inputs is not None:
            record["input"] = self.inputs[position]
        if self.metadata:
            record["metadata"] = self.metadata
        return record

    def chunks(self) -> Iterator[str]:
        """The JSON Lines text of the batch, ``LINES_PER_WRITE`` lines at a time.

        Only the row number and the value vary per line. Labels (a classifier's
        predictions) are encoded once per distinct label, with the rest of the
        line around it, so a line is two strings joined; numbers are encoded
        with one ``json.dumps`` per chunk; anything else one value at a time.
        Rows with inputs (the per-row API) are written one record at a time.
        """
        if self.inputs is not None:
            yield "".join(json.dumps(self.record(i), default=str) + "\n" for i in range(len(self.values)))
            return
        stamp, version = json.dumps(self.timestamp), json.dumps(self.model_version)
        head = f'{{"timestamp": {stamp}, "model_version": {version}, "row": '
        tail = f', "metadata": {json.dumps(self.metadata, default=str)}}}\n' if self.metadata else "}\n"
        between, middle = tail + head, ', "prediction": '
        labels = self._label_texts()
        # A label's text with the rest of its line and the start of the next one after it.
        after = {value: middle + text + between for value, text in (labels or {}).items()}
        numbers_only = self.numbers.size == len(self.values)
        for start in range(0, len(self.values), LINES_PER_WRITE):
            values = self.values[start : start + LINES_PER_WRITE]
            first = self.first_row + start
            rows = map(str, range(first, first + len(values)))
            if labels is not None:
                parts: list[str] = [""] * (2 * len(values))
                parts[0::2] = rows
                parts[1::2] = map(after.__getitem__, values)
                parts[-1] = middle + labels[values[-1]] + tail
                yield head + "".join(parts)
                continue
            encoded = json.dumps(values)[1:-1].split(", ") if numbers_only else map(json.dumps, values)
            # Joined in C: "ROW, "prediction": VALUE" per line, lines joined by tail + head.
            yield head + between.join(map(middle.join, zip(rows, encoded, strict=True))) + tail

    def _label_texts(self) -> dict[Any, str] | None:
        """Each distinct value's JSON text when the values are labels, else None.

        Labels are text, integers or booleans, all of one type (``1``, ``1.0``
        and ``True`` are one dict key but three texts), with at most a tenth as
        many distinct values as rows.
        """
        if self.dtype_kind == "f" or not self.values:
            return None
        if self.dtype_kind not in ("i", "u", "b", "U"):
            types = set(map(type, self.values))
            if len(types) != 1 or not types <= {str, int, bool}:
                return None
        distinct = set(self.values)
        if len(distinct) > max(1, len(self.values) // 10):
            return None
        return {value: json.dumps(value) for value in distinct}

    def add_to(self, index: PredictionIndex) -> None:
        """Fold this batch into ``index`` (its lines are counted as written)."""
        if self.values:
            recent = [self.record(i) for i in range(max(0, len(self.values) - RECENT), len(self.values))]
            index.add(self.values, self.timestamp, self.timestamp, recent, self.numbers)
            index.lines += len(self.values)
