"""A Hydra callback that ranks the jobs of a sweep as they end.

Each job appends its row (overrides, metrics, deployment, ok/failed) to
``sweep_rows.jsonl`` in the sweep directory under a file lock, then rewrites
``sweep_summary.csv`` and ``sweep_summary.json`` ranked by the primary
metric. Rows are written in ``on_job_end`` because Hydra skips
``on_multirun_end`` when a job fails; parallel jobs (joblib, submitit, Ray)
append and never overwrite each other.

A failed job's error is replaced by a :class:`JobFailed` that names the sweep
directory: it is what the sweeper raises, so the app can still print the
leaderboard and the failed jobs.
"""

import csv
import io
import json
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from easy_mlops.config.secrets import mask_overrides
from easy_mlops.errors import MLOpsError
from easy_mlops.files import write_json_atomic, write_text_atomic
from easy_mlops.jsonl import append_lines, locked, read_records
from easy_mlops.metrics import headline_metric, metric_direction

ROWS = "sweep_rows.jsonl"
SUMMARY_CSV = "sweep_summary.csv"
SUMMARY_JSON = "sweep_summary.json"
RESULT_FILE = "result.json"  # written by each job into its own output directory


class JobFailed(MLOpsError):
    """A sweep job failed; raised by the sweep in place of the job's own error.

    Hydra stops at a failed job and skips ``on_multirun_end``; this carries the
    sweep directory to the app, which prints the leaderboard and the failures.
    The job's exception is its ``__cause__`` when the job ran in this process.
    """

    def __init__(self, sweep_dir: str, job: int, overrides: str, error: str) -> None:
        super().__init__(sweep_dir, job, overrides, error)  # the arguments, so it pickles back from workers
        self.sweep_dir, self.job, self.overrides, self.error = sweep_dir, job, overrides, error

    def __str__(self) -> str:
        return f"job {self.job} ({self.overrides}) failed: {self.error}"


class LeaderboardCallback(Callback):
    """Rank sweep jobs by ``metric`` (default: the jobs' ``optimized_metric``), best first.

    ``direction`` is ``higher`` or ``lower``; by default it follows the metric
    (lower is better for errors such as rmse).
    """

    def __init__(self, metric: str | None = None, direction: str | None = None) -> None:
        self.metric = metric
        self.direction = direction

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        row = job_row(config, job_return)
        rows_path = sweep_dir / ROWS
        with locked(rows_path):
            append_lines(rows_path, [json.dumps(row, default=str) + "\n"])
            rows = list(read_records(rows_path))
            write_summary(sweep_dir, rank(rows, self.metric, self.direction))
        if row["status"] == "failed":
            failure = JobFailed(str(sweep_dir), row["job"], row["overrides"], row["error"])
            failure.__cause__ = job_return._return_value
            job_return.return_value = failure

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if (sweep_dir / SUMMARY_JSON).exists():
            print_leaderboard(sweep_dir)


def job_row(config: DictConfig, job_return: JobReturn) -> dict[str, Any]:
    """One leaderboard row from a finished (or failed) job."""
    row: dict[str, Any] = {
        "job": config.hydra.job.num,
        "overrides": " ".join(mask_overrides(job_return.overrides or [], job_return.cfg)),
        "status": "ok" if job_return.status == JobStatus.COMPLETED else "failed",
        "error": None,
        "deployment_dir": None,
        "metrics": {},
    }
    if job_return.status != JobStatus.COMPLETED:
        error = job_return._return_value  # the exception; .return_value would re-raise it
        row["error"] = f"{type(error).__name__}: {error}" if error is not None else "unknown error"
        return row
    result_path = Path(config.hydra.runtime.output_dir) / RESULT_FILE
    if result_path.exists():
        result = json.loads(result_path.read_text(encoding="utf-8"))
        row["deployment_dir"] = result.get("deployment_dir")
        row["metrics"] = result.get("metrics", {})
        row["optimized_metric"] = result.get("optimized_metric")
    return row


def primary_metric(rows: list[dict[str, Any]], metric: str | None) -> str | None:
    """``metric``, else the jobs' ``optimized_metric``, else the headline of their metrics."""
    if metric:
        return metric
    optimized = next((row["optimized_metric"] for row in rows if row.get("optimized_metric")), None)
    return headline_metric({name: 0 for row in rows for name in row.get("metrics", {})}, optimized)


def rank(
    rows: list[dict[str, Any]], metric: str | None = None, direction: str | None = None
) -> dict[str, Any]:
    """Rows ordered best first; failed jobs and jobs without the metric last, by job number."""
    metric = primary_metric(rows, metric)
    direction = direction or (metric_direction(metric) if metric else "higher")
    if direction not in ("higher", "lower"):
        raise ValueError(f"leaderboard direction must be 'higher' or 'lower', got {direction!r}")
    latest = {row["job"]: row for row in rows}  # a retried job keeps its last row

    def key(row: dict[str, Any]) -> tuple:
        value = row.get("metrics", {}).get(metric) if metric else None
        if row["status"] != "ok" or value is None:
            return (1, 0.0, row["job"])
        return (0, -value if direction == "higher" else value, row["job"])

    ordered = sorted(latest.values(), key=key)
    for position, row in enumerate(ordered, start=1):
        row["rank"] = position
    return {"metric": metric, "direction": direction, "rows": ordered}


def write_summary(sweep_dir: Path, board: dict[str, Any]) -> None:
    """Rewrite the CSV and JSON summaries atomically."""
    write_json_atomic(sweep_dir / SUMMARY_JSON, board)
    metric_names = sorted({name for row in board["rows"] for name in row.get("metrics", {})})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["rank", "job", "status", "overrides", *metric_names, "deployment_dir", "error"])
    for row in board["rows"]:
        metrics = row.get("metrics", {})
        writer.writerow(
            [
                row["rank"],
                row["job"],
                row["status"],
                row["overrides"],
                *[metrics.get(name, "") for name in metric_names],
                row.get("deployment_dir") or "",
                row.get("error") or "",
            ]
        )
    write_text_atomic(sweep_dir / SUMMARY_CSV, buffer.getvalue())


def read_leaderboard(sweep_dir: str | Path) -> dict[str, Any]:
    path = Path(sweep_dir) / SUMMARY_JSON
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise MLOpsError(
            f"{sweep_dir}: no {SUMMARY_JSON} (not a sweep directory, or no job has ended yet)"
        ) from exc
    except ValueError as exc:
        raise MLOpsError(f"{path}: not valid JSON ({exc})") from exc


def print_leaderboard(sweep_dir: str | Path) -> dict[str, Any]:
    """The ranked table on stdout, and where its CSV is; returns the leaderboard."""
    from easy_mlops.console import stdout

    board = read_leaderboard(sweep_dir)
    stdout.print(leaderboard_table(board))
    stdout.print(f"Leaderboard: {Path(sweep_dir) / SUMMARY_CSV}")
    return board


def print_failed_sweep(sweep_dir: str | Path) -> None:
    """After a job failed: the leaderboard, then one ``error:`` line per failed job on stderr."""
    from easy_mlops.console import stderr

    board = print_leaderboard(sweep_dir)
    for row in sorted(board["rows"], key=lambda row: row["job"]):
        if row["status"] == "failed":
            error = (row.get("error") or "unknown error").strip().splitlines()[0]
            stderr.print(f"error: job {row['job']} ({row['overrides']}) failed: {error}", markup=False)


def leaderboard_table(board: dict[str, Any]) -> Any:
    from rich.table import Table

    metric = board.get("metric")
    arrow = "↑" if board.get("direction") == "higher" else "↓"
    ranking = f" (by {metric} {arrow})" if metric else " (no job has finished)"
    table = Table(title=f"Sweep leaderboard{ranking}", title_justify="left")
    for column in ("rank", "job", "status", "overrides", metric or "metric", "deployment"):
        table.add_column(str(column))
    for row in board["rows"]:
        value = row.get("metrics", {}).get(metric) if metric else None
        table.add_row(
            str(row["rank"]),
            str(row["job"]),
            row["status"],
            row["overrides"],
            f"{value:.4f}" if isinstance(value, (int, float)) else "-",
            row.get("deployment_dir") or (row.get("error") or "-"),
        )
    return table
