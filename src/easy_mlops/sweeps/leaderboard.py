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

import io
import json
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from easy_mlops.config.secrets import mask_overrides
from easy_mlops.jsonl import append_lines, locked, read_records
from easy_mlops.sweeps.board import (
    RESULT_FILE,
    ROWS,
    SUMMARY_JSON,
    JobFailed,
    print_leaderboard,
    rank,
    write_summary,
)


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
            failure.__cause__ = job_error(job_return)
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
        error = job_error(job_return)
        row["error"] = f"{type(error).__name__}: {error}" if error is not None else "unknown error"
        return row
    result_path = Path(config.hydra.runtime.output_dir) / RESULT_FILE
    if result_path.exists():
        result = json.loads(result_path.read_text(encoding="utf-8"))
        row["deployment_dir"] = result.get("deployment_dir")
        row["metrics"] = result.get("metrics", {})
        row["optimized_metric"] = result.get("optimized_metric")
    return row


def job_error(job_return: JobReturn) -> BaseException | None:
    """The exception a failed job raised; None for a job that did not fail.

    Read through ``return_value``, which raises it after writing ``Error
    executing job with overrides: [...]`` to stderr: the overrides unmasked,
    secrets included, and in a worker process (joblib, submitit, Ray) no
    filter of the app's stands between that line and the user. So the line
    goes to a buffer that is dropped.
    """
    if job_return.status != JobStatus.FAILED:
        return None
    try:
        with redirect_stderr(io.StringIO()):
            job_return.return_value  # noqa: B018 (read for the exception it raises)
    except BaseException as error:  # what the job raised, KeyboardInterrupt included
        return error
    return None
