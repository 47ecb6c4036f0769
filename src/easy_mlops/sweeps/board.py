"""A sweep's leaderboard on disk: its rows, their ranking, the summaries and the table.

:class:`~easy_mlops.sweeps.leaderboard.LeaderboardCallback` writes it as the
jobs end; ``sweeps show`` and the app read it here without importing Hydra.
"""

import csv
import io
import json
from pathlib import Path
from typing import Any

from easy_mlops.errors import MLOpsError
from easy_mlops.files import write_json_atomic, write_text_atomic
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
    stdout().print(leaderboard_table(board))
    stdout().print(f"Leaderboard: {Path(sweep_dir) / SUMMARY_CSV}")
    return board


def print_failed_sweep(sweep_dir: str | Path) -> None:
    """After a job failed: the leaderboard, then one ``error:`` line per failed job on stderr."""
    from easy_mlops.console import stderr

    board = print_leaderboard(sweep_dir)
    for row in sorted(board["rows"], key=lambda row: row["job"]):
        if row["status"] == "failed":
            error = (row.get("error") or "unknown error").strip().splitlines()[0]
            stderr().print(f"error: job {row['job']} ({row['overrides']}) failed: {error}")


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
