"""Run the benchmarks and write bench/RESULTS.md (``make bench``).

    python bench/run.py                 # everything, full sizes (tens of minutes)
    python bench/run.py --quick         # small sizes, one run each: checks that the scripts work
    python bench/run.py --only status   # one figure (repeatable: --only train --only predict)
    python bench/run.py --only fixed    # the fixed costs with a fast model (logistic regression)
    python bench/run.py --only boosting # trainer=xgboost against a hand-written xgboost script

Every timed command is a real process started from a scratch working
directory inside one temporary directory, which is removed at the end. Each
figure is the median of ``--repeat`` runs; each comparison is the ratio of the
two medians, measured in the same invocation with the sides alternating
(A, B, A, B, ...; three sides rotate A, B, C, A, B, C, ...). See bench/README.md.
"""

import argparse
import itertools
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
import traceback
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path

import data
import timing
from timing import Measurement, median, median_rss_mb, median_seconds

BENCH_DIR = Path(__file__).resolve().parent
BASELINES = BENCH_DIR / "baselines"
LIBRARIES = (
    "scikit-learn",
    "pandas",
    "numpy",
    "joblib",
    "hydra-core",
    "omegaconf",
    "hydra-joblib-launcher",
    "make-mlops-easy",
)
FIGURES = (
    "train",
    "imports",
    "predict",
    "status",
    "aging",
    "sweep",
    "memory",
    "readonly",
    "fixed",
    "boosting",
)
STATUS_BATCH = 100_000


@dataclass
class Settings:
    rows: int = 200_000  # training rows (figures 1, 2, 6)
    small_rows: int = 20_000  # the second training size of figure 1; the deployment of figures 3, 4
    predict_rows: int = 1_000_000  # batch scoring rows (figures 2, 6)
    status_predictions: int = 1_000_000  # logged predictions behind `status` (figure 3)
    aging_rows: int = 10_000  # rows per predict call (figure 4)
    aging_calls: int = 50
    aging_window: int = 10  # first/last this many calls are compared
    sweep_rows: int = 20_000  # training rows of every sweep job (figure 5)
    tiny_rows: int = 1_000  # figure 8: a training set small enough that only fixed costs show
    fixed_sweep_jobs: int = 16
    repeat: int = 5
    sweep_repeat: int = 3


QUICK = Settings(
    rows=5_000,
    small_rows=2_000,
    predict_rows=20_000,
    status_predictions=200_000,
    aging_rows=1_000,
    aging_calls=20,
    aging_window=5,
    sweep_rows=2_000,
    fixed_sweep_jobs=4,
    repeat=1,
    sweep_repeat=1,
)


@dataclass
class Row:
    number: int  # the figure of the issue this row belongs to
    figure: str
    framework: str
    baseline: str
    ratio: float | None
    target: str
    result: str


def say(message: str) -> None:
    print(message, flush=True)


def verdict(ratio: float, limit: float) -> str:
    return "PASS" if ratio <= limit else "MISS"


def timed_row(
    number: int, figure: str, framework: float, baseline: float, limit: float | None = None, target: str = "—"
) -> Row:
    """A row comparing two median times; with ``limit``, the target is ``ratio <= limit``."""
    ratio = framework / baseline
    if limit is None:
        return Row(
            number,
            figure,
            seconds(framework),
            seconds(baseline),
            ratio,
            target,
            "info" if target != "—" else "report",
        )
    return Row(
        number, figure, seconds(framework), seconds(baseline), ratio, f"≤ {limit:.2f}", verdict(ratio, limit)
    )


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def megabytes(value: float) -> str:
    return f"{value:.0f} MiB"


class Bench:
    def __init__(self, settings: Settings, root: Path) -> None:
        self.s = settings
        self.root = root
        self.work = root / "work"  # the cwd of every command: ./models, ./outputs land here
        self.work.mkdir()
        self.python = sys.executable
        self.cli = self._find_cli()
        # The commands' cache (kept compositions) starts empty here, and the user's is left alone.
        self.cache = root / "cache"
        os.environ["EASY_MLOPS_CACHE"] = str(self.cache)
        compile_package()
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.memory: dict[str, dict[str, list[Measurement]]] = {}
        self.durations: dict[str, float] = {}
        self._counter = itertools.count(1)
        self._data: dict[tuple[str, int], Path] = {}
        self._deployments: dict[int, Path] = {}  # rows -> the framework deployment kept from training
        self._baselines: dict[int, Path] = {}  # rows -> the baseline's artifacts kept from training

    def _find_cli(self) -> str:
        beside = Path(self.python).parent / "make-mlops-easy"
        found = str(beside) if beside.exists() else shutil.which("make-mlops-easy")
        if not found:
            raise SystemExit("make-mlops-easy not found: run `make bench` (it installs the package)")
        return found

    # ---------------------------------------------------------------- helpers

    def fresh(self, name: str) -> Path:
        """A new, unused path under the temporary directory."""
        return self.root / f"{name}_{next(self._counter)}"

    def forget_compositions(self) -> None:
        """Empty the kept compositions: the next command composes as the first of its config does."""
        shutil.rmtree(self.cache / "configs", ignore_errors=True)

    def measure(self, cmd: list, stdout: Path | None = None, keep_stderr: bool = False) -> Measurement:
        return timing.run(cmd, cwd=self.work, stdout=stdout, keep_stderr=keep_stderr)

    def training_data(self, rows: int) -> Path:
        key = ("train", rows)
        if key not in self._data:
            started = time.perf_counter()
            self._data[key] = data.training_csv(self.root / "data" / f"train_{rows}.csv", rows)
            say(f"generated {rows:,} training rows in {time.perf_counter() - started:.1f} s")
        return self._data[key]

    def scoring_data(self, rows: int) -> Path:
        key = ("score", rows)
        if key not in self._data:
            started = time.perf_counter()
            self._data[key] = data.scoring_csv(self.root / "data" / f"score_{rows}.csv", rows)
            say(f"generated {rows:,} scoring rows in {time.perf_counter() - started:.1f} s")
        return self._data[key]

    def cli_train_cmd(self, data_path: Path, output_dir: Path) -> list:
        return [self.cli, "train", data_path, f"deployment.output_dir={output_dir}", "trainer.cv_folds=null"]

    def hydra_train_cmd(self, data_path: Path, output_dir: Path, run_dir: Path) -> list:
        return [
            self.python,
            "-m",
            "easy_mlops.run",
            "data=csv",
            f"data.path={data_path}",
            f"deployment.output_dir={output_dir}",
            "trainer.cv_folds=null",
            f"hydra.run.dir={run_dir}",
        ]

    def timed_sweep(self, data_path: Path, jobs: int, problems: list[str], *overrides: str) -> Measurement:
        """Time ``python -m easy_mlops.run -m`` on ``data_path``; a sweep that did not make ``jobs``
        deployments is noted in ``problems``."""
        output_dir, sweep_dir = self.fresh("sweep_deployments"), self.fresh("sweep_dir")
        cmd = [
            self.python,
            "-m",
            "easy_mlops.run",
            "-m",
            "data=csv",
            f"data.path={data_path}",
            *overrides,
            f"deployment.output_dir={output_dir}",
            f"hydra.sweep.dir={sweep_dir}",
        ]
        measurement = self.measure(cmd)
        made = len(list(output_dir.glob("deployment_*")))
        if made != jobs or not (sweep_dir / "sweep_summary.csv").exists():
            problems.append(f"{' '.join(overrides)}: {made} deployments, expected {jobs}")
        shutil.rmtree(output_dir, ignore_errors=True)
        shutil.rmtree(sweep_dir, ignore_errors=True)
        return measurement

    def baseline_train_cmd(self, data_path: Path, output_dir: Path, *options: str) -> list:
        return [self.python, BASELINES / "train.py", data_path, output_dir, *options]

    @staticmethod
    def deployment_in(output_dir: Path) -> Path:
        found = sorted(p for p in output_dir.glob("deployment_*") if p.is_dir())
        if len(found) != 1:
            raise RuntimeError(f"expected one deployment in {output_dir}, found {len(found)}")
        return found[0]

    def keep_deployment(self, rows: int, output_dir: Path) -> None:
        previous = self._deployments.get(rows)
        self._deployments[rows] = self.deployment_in(output_dir)
        if previous is not None:
            shutil.rmtree(previous.parent, ignore_errors=True)

    def keep_baseline(self, rows: int, output_dir: Path) -> None:
        previous = self._baselines.get(rows)
        self._baselines[rows] = output_dir
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)

    def framework_deployment(self, rows: int) -> Path:
        """The framework's deployment trained on ``rows`` rows (trained now, untimed, if needed)."""
        if rows not in self._deployments:
            say(f"training a framework deployment on {rows:,} rows (untimed)")
            output_dir = self.fresh("deployments")
            self.measure(self.cli_train_cmd(self.training_data(rows), output_dir))
            self.keep_deployment(rows, output_dir)
        return self._deployments[rows]

    def baseline_artifacts(self, rows: int) -> Path:
        """The baseline's model and ColumnTransformer trained on ``rows`` rows (untimed, if needed)."""
        if rows not in self._baselines:
            say(f"training the baseline on {rows:,} rows (untimed)")
            output_dir = self.fresh("baseline")
            self.measure(self.baseline_train_cmd(self.training_data(rows), output_dir))
            self.keep_baseline(rows, output_dir)
        return self._baselines[rows]

    # ---------------------------------------------------------------- figure 1: train

    def figure_train(self, rows: int, with_hydra: bool) -> None:
        say(f"\n== train, {rows:,} rows ==")
        data_path = self.training_data(rows)

        def cli() -> Measurement:
            output_dir = self.fresh("train_framework")
            measurement = self.measure(self.cli_train_cmd(data_path, output_dir))
            self.keep_deployment(rows, output_dir)
            return measurement

        def baseline() -> Measurement:
            output_dir = self.fresh("train_baseline")
            measurement = self.measure(self.baseline_train_cmd(data_path, output_dir))
            self.keep_baseline(rows, output_dir)
            return measurement

        def hydra_app() -> Measurement:
            output_dir, run_dir = self.fresh("train_hydra"), self.fresh("hydra_run")
            measurement = self.measure(self.hydra_train_cmd(data_path, output_dir, run_dir))
            self.deployment_in(output_dir)
            shutil.rmtree(output_dir)
            shutil.rmtree(run_dir, ignore_errors=True)
            return measurement

        sides: list[tuple[str, Callable[[], Measurement]]] = [("make-mlops-easy train", cli)]
        sides.append(("baselines/train.py", baseline))
        if with_hydra:
            sides.append(("python -m easy_mlops.run", hydra_app))
        runs = timing.alternate(sides, self.s.repeat, progress=say)
        framework, base = runs["make-mlops-easy train"], runs["baselines/train.py"]
        if with_hydra:
            self.rows.append(
                timed_row(
                    1,
                    f"Train, {rows:,} rows: `make-mlops-easy train` vs baseline",
                    median_seconds(framework),
                    median_seconds(base),
                    1.10,
                )
            )
            hydra_runs = runs["python -m easy_mlops.run"]
            self.rows.append(
                timed_row(
                    1,
                    f"Train, {rows:,} rows: `python -m easy_mlops.run data=csv` vs baseline",
                    median_seconds(hydra_runs),
                    median_seconds(base),
                )
            )
            self.memory["train"] = {"framework": framework, "baseline": base}
        else:
            self.rows.append(
                timed_row(
                    1,
                    f"Train, {rows:,} rows: `make-mlops-easy train` vs baseline",
                    median_seconds(framework),
                    median_seconds(base),
                )
            )
        self.check_same_metrics(rows)

    def check_same_metrics(self, rows: int) -> None:
        ours = json.loads((self._deployments[rows] / "metadata.json").read_text()).get("metrics")
        theirs = json.loads((self._baselines[rows] / "metadata.json").read_text()).get("metrics")
        same = ours == theirs
        self.notes.append(
            f"Train, {rows:,} rows: hold-out metrics of the framework and the baseline are "
            + ("identical" if same else f"DIFFERENT (framework {ours}, baseline {theirs})")
            + (f": {ours}." if same else ".")
        )

    # ---------------------------------------------------------------- figure 1: import time

    IMPORT_LINE = re.compile(r"^import time:\s*(\d+) \|\s*(\d+) \| ( *)(\S+)\s*$")

    @classmethod
    def parse_importtime(cls, stderr: str, package: str = "easy_mlops") -> tuple[float, dict[str, float]]:
        """Total ms (cumulative of the top-level ``package`` lines) and self ms per top-level package.

        ``-X importtime`` prints a module after the modules it imported, so the
        lines since the previous top-level line are the subtree of a top-level line.
        """
        total_us = 0
        by_package: dict[str, float] = defaultdict(float)
        subtree: list[tuple[int, str]] = []
        for line in stderr.splitlines():
            match = cls.IMPORT_LINE.match(line)
            if not match:
                continue
            self_us, cumulative_us, indent, name = int(match[1]), int(match[2]), match[3], match[4]
            subtree.append((self_us, name))
            if indent:
                continue
            if name == package or name.startswith(package + "."):
                total_us += cumulative_us
                for own_us, module in subtree:
                    by_package[module.split(".")[0]] += own_us / 1000
            subtree = []
        return total_us / 1000, dict(by_package)

    def figure_imports(self) -> None:
        say("\n== import time ==")
        modules = ("easy_mlops.run", "easy_mlops.cli.main")

        def importer(module: str) -> Callable[[], Measurement]:
            return lambda: self.measure(
                [self.python, "-X", "importtime", "-c", f"import {module}"], keep_stderr=True
            )

        runs = timing.alternate(
            [(module, importer(module)) for module in modules], self.s.repeat, warmup=1, progress=say
        )
        for module in modules:
            parsed = [self.parse_importtime(m.stderr) for m in runs[module]]
            total = median([total for total, _ in parsed])
            packages = {name for _, per_package in parsed for name in per_package}
            per_package = {name: median([p.get(name, 0.0) for _, p in parsed]) for name in packages}
            top = sorted(per_package.items(), key=lambda item: -item[1])[:3]
            largest = ", ".join(f"{name} {ms:.0f} ms" for name, ms in top)
            self.rows.append(
                Row(
                    1,
                    f"Import time of `{module}` (largest, self time per package: {largest})",
                    f"{total:.0f} ms",
                    "—",
                    None,
                    "—",
                    "report",
                )
            )
            self.notes.append(
                f'`python -X importtime -c "import {module}"`: process wall time '
                f"{median_seconds(runs[module]):.2f} s (median), of which imports {total:.0f} ms."
            )

    # ---------------------------------------------------------------- figure 2: batch predict

    def figure_predict(self) -> None:
        rows, scoring_rows = self.s.rows, self.s.predict_rows
        say(f"\n== batch predict, {scoring_rows:,} rows (models trained on {rows:,} rows) ==")
        pristine = self.framework_deployment(rows)
        baseline_dir = self.baseline_artifacts(rows)
        scoring = self.scoring_data(scoring_rows)
        outputs: dict[str, Path] = {}
        problems: list[str] = []

        def framework(log: bool) -> Callable[[], Measurement]:
            label = "logging on" if log else "logging off"

            def side() -> Measurement:
                deployment = self.fresh("predict_deployment")
                shutil.copytree(pristine, deployment)
                output = self.fresh("predictions").with_suffix(".json")
                cmd = [self.cli, "predict", scoring, deployment, "-o", output]
                measurement = self.measure(cmd if log else [*cmd, "--no-log"])
                logged = (deployment / "logs" / "predictions_log.jsonl").exists()
                if logged != log:
                    problems.append(f"{label}: predictions log {'missing' if log else 'written'}")
                shutil.rmtree(deployment)
                self._keep_first(outputs, label, output)
                return measurement

            return side

        def baseline() -> Measurement:
            output = self.fresh("predictions").with_suffix(".json")
            measurement = self.measure([self.python, BASELINES / "predict.py", scoring, baseline_dir, output])
            self._keep_first(outputs, "baseline", output)
            return measurement

        runs = timing.alternate(
            [("logging on", framework(True)), ("baseline", baseline), ("logging off", framework(False))],
            self.s.repeat,
            progress=say,
        )
        on, off, base = runs["logging on"], runs["logging off"], runs["baseline"]
        self.rows.append(
            timed_row(
                2,
                f"Batch predict, {scoring_rows:,} rows, logging on: `make-mlops-easy predict -o` vs baseline",
                median_seconds(on),
                median_seconds(base),
                1.25,
            )
        )
        self.rows.append(
            timed_row(
                2,
                f"Batch predict, {scoring_rows:,} rows: logging on (framework) vs `--no-log` (baseline)",
                median_seconds(on),
                median_seconds(off),
                1.15,
            )
        )
        self.memory["predict"] = {"framework": on, "baseline": base}
        predictions = {label: json.loads(path.read_text())["predictions"] for label, path in outputs.items()}
        counts = {label: len(values) for label, values in predictions.items()}
        same = len({json.dumps(values) for values in predictions.values()}) == 1
        self.notes.append(
            f"Batch predict: {counts} predictions; framework and baseline predictions are "
            + ("identical." if same else "DIFFERENT.")
        )
        if problems:
            self.notes.append("Batch predict: PROBLEMS: " + "; ".join(sorted(set(problems))))

    @staticmethod
    def _keep_first(outputs: dict[str, Path], label: str, output: Path) -> None:
        if label in outputs:
            output.unlink()
        else:
            outputs[label] = output

    # ---------------------------------------------------------------- figure 3: status

    def figure_status(self) -> None:
        count = self.s.status_predictions
        say(f"\n== status at 0 vs {count:,} logged predictions ==")
        pristine = self.framework_deployment(self.s.small_rows)
        empty, full = self.fresh("status_empty"), self.fresh("status_full")
        shutil.copytree(pristine, empty)
        shutil.copytree(pristine, full)
        started = time.perf_counter()
        self.log_predictions(full, count)
        say(f"logged {count:,} predictions in {time.perf_counter() - started:.1f} s (untimed)")
        stdout = {"empty": self.fresh("status_empty").with_suffix(".json")}
        stdout["full"] = self.fresh("status_full").with_suffix(".json")

        def status(which: str, directory: Path) -> Callable[[], Measurement]:
            return lambda: self.measure([self.cli, "status", directory, "--json"], stdout=stdout[which])

        runs = timing.alternate(
            [("0 predictions", status("empty", empty)), (f"{count:,} predictions", status("full", full))],
            self.s.repeat,
            warmup=1,
            progress=say,
        )
        at_zero, at_count = runs["0 predictions"], runs[f"{count:,} predictions"]
        self.rows.append(
            timed_row(
                3,
                f"`make-mlops-easy status --json`: {count:,} logged predictions (framework) vs 0 (baseline)",
                median_seconds(at_count),
                median_seconds(at_zero),
                1.2,
            )
        )
        totals = {
            which: json.loads(path.read_text())["predictions"]["total_predictions"]
            for which, path in stdout.items()
        }
        log_size = (full / "logs" / "predictions_log.jsonl").stat().st_size / 2**20
        self.notes.append(
            f"Status: deployment trained on {self.s.small_rows:,} rows; `total_predictions` reported "
            f"{totals['empty']:,} and {totals['full']:,}; the full log is {log_size:.0f} MiB."
        )
        shutil.rmtree(empty)
        shutil.rmtree(full)

    @staticmethod
    def log_predictions(deployment: Path, count: int) -> None:
        """Append ``count`` class predictions to a deployment's log in batches, in this process."""
        import numpy as np

        from easy_mlops.inference import deployment_monitor

        monitor = deployment_monitor(deployment)
        generator = np.random.default_rng(0)
        for start in range(0, count, STATUS_BATCH):
            size = min(STATUS_BATCH, count - start)
            monitor.log_predictions(generator.integers(0, 3, size), "1.0.0")

    # ---------------------------------------------------------------- figure 4: aging

    def figure_aging(self) -> None:
        """Calls against one deployment whose log grows, each followed by a call against a fresh copy.

        The fresh copy's log is emptied before every call, so its first-vs-last
        ratio is the machine's drift alone; the issue's figure is the aged one.
        """
        calls, window, rows = self.s.aging_calls, self.s.aging_window, self.s.aging_rows
        say(f"\n== aging: {calls} predict calls of {rows:,} rows against one deployment ==")
        source = self.framework_deployment(self.s.small_rows)
        aged, control = self.fresh("aging_deployment"), self.fresh("aging_control")
        shutil.copytree(source, aged)
        shutil.copytree(source, control)
        scoring = self.scoring_data(rows)
        times: dict[str, list[float]] = {"aged": [], "control": []}
        for call in range(calls):
            aged_seconds = self.measure([self.cli, "predict", scoring, aged]).seconds
            shutil.rmtree(control / "logs", ignore_errors=True)
            control_seconds = self.measure([self.cli, "predict", scoring, control]).seconds
            times["aged"].append(aged_seconds)
            times["control"].append(control_seconds)
            say(f"  call {call + 1}/{calls}: {aged_seconds:.2f} s (fresh copy {control_seconds:.2f} s)")
        aged_ratio, control_ratio = (
            median(times[side][-window:]) / median(times[side][:window]) for side in ("aged", "control")
        )
        self.rows.append(
            timed_row(
                4,
                f"Aging: median of the last {window} vs the first {window} of {calls} "
                f"`make-mlops-easy predict` calls ({rows:,} rows each)",
                median(times["aged"][-window:]),
                median(times["aged"][:window]),
                1.1,
            )
        )
        self.rows.append(
            timed_row(
                4,
                f"Aging, machine drift: the same for a fresh copy of the deployment called after each "
                f"of those calls; the aged ratio over this one is {aged_ratio / control_ratio:.2f}",
                median(times["control"][-window:]),
                median(times["control"][:window]),
            )
        )
        index = json.loads((aged / "logs" / "predictions_log.index.json").read_text())
        self.notes.append(
            f"Aging: deployment trained on {self.s.small_rows:,} rows; its log held "
            f"{index.get('total', '?'):,} predictions at the end (expected {calls * rows:,}); "
            f"all call times: {', '.join(f'{t:.2f}' for t in times['aged'])} s; "
            f"the fresh copy: {', '.join(f'{t:.2f}' for t in times['control'])} s "
            f"(ratio {control_ratio:.2f})."
        )
        shutil.rmtree(aged)
        shutil.rmtree(control)

    # ---------------------------------------------------------------- figure 5: sweep

    def figure_sweep(self) -> None:
        rows = self.s.sweep_rows
        say(f"\n== 8-job sweep on {rows:,} rows: basic launcher vs joblib launcher (n_jobs=2) ==")
        data_path = self.training_data(rows)
        problems: list[str] = []

        def sweep(launcher: list[str]) -> Callable[[], Measurement]:
            grid = ["trainer.model.n_estimators=100,200", "trainer.test_size=0.2,0.25,0.3,0.35"]
            return lambda: self.timed_sweep(data_path, 8, problems, *grid, *launcher)

        runs = timing.alternate(
            [("basic", sweep([])), ("joblib", sweep(["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]))],
            self.s.sweep_repeat,
            progress=say,
        )
        self.rows.append(
            timed_row(
                5,
                f"Sweep of 8 jobs, {rows:,} rows: `hydra/launcher=joblib hydra.launcher.n_jobs=2` "
                f"(framework) vs the basic launcher (baseline); median of {self.s.sweep_repeat}",
                median_seconds(runs["joblib"]),
                median_seconds(runs["basic"]),
                target="≈ 0.55 expected on 2 cores",
            )
        )
        if problems:
            self.notes.append("Sweep: PROBLEMS: " + "; ".join(problems))

    # ---------------------------------------------------------------- figure 6: memory

    def figure_memory(self) -> None:
        labels = {
            "train": f"Peak RSS, train {self.s.rows:,} rows: `make-mlops-easy train` vs baseline",
            "predict": f"Peak RSS, batch predict {self.s.predict_rows:,} rows (logging on) vs baseline",
        }
        for kind, label in labels.items():
            if kind not in self.memory:
                continue
            ours = median_rss_mb(self.memory[kind]["framework"])
            theirs = median_rss_mb(self.memory[kind]["baseline"])
            ratio = ours / theirs
            self.rows.append(
                Row(6, label, megabytes(ours), megabytes(theirs), ratio, "≤ 1.3", verdict(ratio, 1.3))
            )

    def figure_readonly(self) -> None:
        """Commands that only read JSON files, against the import of pandas alone (issue: <= 0.5x)."""
        say("\n== read-only commands vs `python -c 'import pandas'` ==")
        pristine = self.framework_deployment(self.s.small_rows)
        few, many, home = self.fresh("list_3"), self.fresh("list_100"), self.fresh("latest_home")
        for folder, count in ((few, 3), (many, 100), (home / "models", 3)):  # latest: ./models of its cwd
            for number in range(count):  # copies: list reads each one's metadata and logs index
                shutil.copytree(pristine, folder / f"deployment_20240101_{number:06d}")
        board = self.fresh("sweep")
        board.mkdir()
        from easy_mlops.sweeps.board import rank, write_summary

        rows = [
            {
                "job": job,
                "overrides": f"trainer.model.C={job}",
                "status": "ok",
                "metrics": {"accuracy": job / 20},
            }
            for job in range(16)
        ]
        write_summary(board, rank(rows, None, None))
        deployment = next(iter(sorted(few.iterdir())))
        commands = {
            "import pandas": [sys.executable, "-c", "import pandas"],
            "status --json": [self.cli, "status", deployment, "--json"],
            "status latest --json": [self.cli, "status", "latest", "--json"],
            "list (3 deployments)": [self.cli, "list", few],
            "list (100 deployments)": [self.cli, "list", many],
            "sweeps show (16 jobs)": [self.cli, "sweeps", "show", board],
        }
        runs = timing.alternate(
            [
                (name, (lambda cmd=cmd: timing.run(cmd, cwd=home if "latest" in cmd else self.work)))
                for name, cmd in commands.items()
            ],
            self.s.repeat,
            warmup=1,
            progress=say,
        )
        pandas_import = median_seconds(runs["import pandas"])
        for name in [name for name in commands if name not in ("import pandas", "list (100 deployments)")]:
            self.rows.append(
                timed_row(
                    7,
                    f"`{name}` vs `python -c 'import pandas'`",
                    median_seconds(runs[name]),
                    pandas_import,
                    0.5,
                )
            )
        self.rows.append(
            timed_row(
                7,
                "`list`: 100 deployments vs 3",
                median_seconds(runs["list (100 deployments)"]),
                median_seconds(runs["list (3 deployments)"]),
                2.0,
            )
        )
        for folder in (few, many, board, home):
            shutil.rmtree(folder)

    # ---------------------------------------------------------------- figure 8: fixed costs

    def figure_fixed(self) -> None:
        """The framework's fixed costs, with a model fast enough not to hide them (logistic regression)."""
        fast = ["trainer=logistic_regression", "trainer.cv_folds=0"]
        for rows in (self.s.rows, self.s.tiny_rows):
            self.fixed_train(rows, fast)
        self.fixed_predict(fast)
        self.fixed_sweep()

    def fixed_train(self, rows: int, fast: list[str]) -> None:
        say(f"\n== fixed costs: train a logistic regression on {rows:,} rows, cv off ==")
        data_path = self.training_data(rows)

        def timed(cmd: list, *made: Path) -> Measurement:
            measurement = self.measure(cmd)
            for path in made:
                shutil.rmtree(path, ignore_errors=True)
            return measurement

        # The same command each round, as a user retrains into one models/ folder: from the
        # second, it reads its kept composition. "cold" forgets it first, as a new config does.
        output_dir = self.root / f"fixed_cli_{rows}"

        def cli() -> Measurement:
            return timed([*self.cli_train_cmd(data_path, output_dir), *fast], output_dir)

        def cli_cold() -> Measurement:
            self.forget_compositions()
            return timed([*self.cli_train_cmd(data_path, output_dir), *fast], output_dir)

        def baseline() -> Measurement:
            output_dir = self.fresh("fixed_base")
            cmd = self.baseline_train_cmd(data_path, output_dir, "--model", "logistic_regression")
            return timed(cmd, output_dir)

        def hydra_app() -> Measurement:
            output_dir, run_dir = self.fresh("fixed_app"), self.fresh("fixed_run")
            return timed([*self.hydra_train_cmd(data_path, output_dir, run_dir), *fast], output_dir, run_dir)

        runs = timing.alternate(
            [("cli", cli), ("baseline", baseline), ("hydra", hydra_app), ("cold", cli_cold)],
            self.s.repeat,
            warmup=1,
            progress=say,
        )
        base = median_seconds(runs["baseline"])
        for side, name in (
            ("cli", "`make-mlops-easy train`"),
            ("cold", "`make-mlops-easy train`, config composed afresh"),
            ("hydra", "`python -m easy_mlops.run`"),
        ):
            ours = median_seconds(runs[side])
            label = f"Train, logistic regression, {rows:,} rows, cv off: {name} vs baseline"
            if rows == self.s.rows:
                self.rows.append(timed_row(8, label, ours, base, 1.10))
                continue
            extra = ours - base
            self.rows.append(
                Row(
                    8,
                    f"{label} (difference)",
                    seconds(ours),
                    seconds(base),
                    ours / base,
                    "+≤ 0.50 s",
                    f"{'PASS' if extra <= 0.5 else 'MISS'} (+{extra:.2f} s)",
                )
            )

    def fixed_predict(self, fast: list[str]) -> None:
        rows, scoring_rows = self.s.rows, self.s.predict_rows
        say(f"\n== fixed costs: batch predict {scoring_rows:,} rows with a logistic regression ==")
        data_path, scoring = self.training_data(rows), self.scoring_data(scoring_rows)
        trained = self.fresh("fixed_deployment")
        self.measure([*self.cli_train_cmd(data_path, trained), *fast])
        pristine = self.deployment_in(trained)
        baseline_dir = self.fresh("fixed_baseline")
        self.measure(self.baseline_train_cmd(data_path, baseline_dir, "--model", "logistic_regression"))

        def framework(*options: str) -> Callable[[], Measurement]:
            def side() -> Measurement:
                deployment = self.fresh("fixed_predict")
                shutil.copytree(pristine, deployment)
                output = self.fresh("fixed_predictions").with_suffix(".json")
                measurement = self.measure([self.cli, "predict", scoring, deployment, "-o", output, *options])
                shutil.rmtree(deployment)
                output.unlink()
                return measurement

            return side

        def baseline() -> Measurement:
            output = self.fresh("fixed_predictions").with_suffix(".json")
            measurement = self.measure([self.python, BASELINES / "predict.py", scoring, baseline_dir, output])
            output.unlink()
            return measurement

        runs = timing.alternate(
            [("on", framework()), ("baseline", baseline), ("off", framework("--no-log"))],
            self.s.repeat,
            warmup=1,
            progress=say,
        )
        base = median_seconds(runs["baseline"])
        for side, name, limit in (("on", "logging on", 1.10), ("off", "`--no-log`", 1.03)):
            self.rows.append(
                timed_row(
                    8,
                    f"Batch predict, logistic regression, {scoring_rows:,} rows, {name} vs baseline",
                    median_seconds(runs[side]),
                    base,
                    limit,
                )
            )
        shutil.rmtree(trained)
        shutil.rmtree(baseline_dir)

    def fixed_sweep(self) -> None:
        rows, jobs = self.s.tiny_rows, self.s.fixed_sweep_jobs
        say(f"\n== fixed costs: {jobs}-job sweep of logistic regressions, {rows:,} rows, joblib n_jobs=2 ==")
        data_path = self.training_data(rows)
        problems: list[str] = []

        def sweep() -> Measurement:
            return self.timed_sweep(
                data_path,
                jobs,
                problems,
                "trainer=logistic_regression",
                "trainer.cv_folds=0",
                f"trainer.model.C=range(1,{jobs + 1})",
                "hydra/launcher=joblib",
                "hydra.launcher.n_jobs=2",
            )

        def baseline() -> Measurement:
            output_dir = self.fresh("fixed_sweep_base")
            cmd = [
                self.python,
                BASELINES / "sweep.py",
                data_path,
                output_dir,
                "--jobs",
                str(jobs),
                "--n-jobs",
                "2",
            ]
            measurement = self.measure(cmd)
            shutil.rmtree(output_dir, ignore_errors=True)
            return measurement

        runs = timing.alternate([("sweep", sweep), ("baseline", baseline)], self.s.sweep_repeat, progress=say)
        ours, base = median_seconds(runs["sweep"]), median_seconds(runs["baseline"])
        per_job = (ours - base) * 2 / jobs  # two workers: wall time x 2 is worker time
        self.rows.append(
            Row(
                8,
                f"Sweep of {jobs} logistic regressions, {rows:,} rows, joblib launcher n_jobs=2, vs "
                f"baselines/sweep.py (joblib, 2 workers); median of {self.s.sweep_repeat}",
                seconds(ours),
                seconds(base),
                ours / base,
                "report per-job cost",
                f"info ({per_job:.2f} s of worker time per job)",
            )
        )
        if problems:
            self.notes.append("Fixed-cost sweep: PROBLEMS: " + "; ".join(problems))

    # ---------------------------------------------------------------- figure 9: xgboost

    def figure_boosting(self) -> None:
        """``trainer=xgboost`` against the same xgboost fit written by hand (issue: <= 1.05x)."""
        rows = self.s.rows
        say(f"\n== train with trainer=xgboost, {rows:,} rows ==")
        data_path = self.training_data(rows)
        metrics: dict[str, dict] = {}

        def timed(side: str, cmd: list, output_dir: Path) -> Measurement:
            measurement = self.measure(cmd)
            found = sorted(output_dir.rglob("metadata.json"))
            metrics.setdefault(side, json.loads(found[0].read_text())["metrics"])
            shutil.rmtree(output_dir)
            return measurement

        def framework() -> Measurement:
            output_dir = self.root / "xgb_framework"  # the same command each round (see fixed_train)
            return timed(
                "framework", [*self.cli_train_cmd(data_path, output_dir), "trainer=xgboost"], output_dir
            )

        def baseline() -> Measurement:
            output_dir = self.fresh("xgb_baseline")
            cmd = self.baseline_train_cmd(data_path, output_dir, "--model", "xgboost")
            return timed("baseline", cmd, output_dir)

        runs = timing.alternate(
            [("framework", framework), ("baseline", baseline)], self.s.repeat, warmup=1, progress=say
        )
        self.rows.append(
            timed_row(
                9,
                f"Train, xgboost, {rows:,} rows: `make-mlops-easy train trainer=xgboost` vs baseline",
                median_seconds(runs["framework"]),
                median_seconds(runs["baseline"]),
                1.05,
            )
        )
        same = metrics.get("framework") == metrics.get("baseline")
        self.notes.append(
            f"xgboost, {rows:,} rows: hold-out metrics of the framework and the baseline are "
            + ("identical." if same else f"DIFFERENT: {metrics}")
        )

    # ---------------------------------------------------------------- driver

    def run(self, only: set[str]) -> bool:
        plan: list[tuple[str, Callable[[], None]]] = []
        wanted = only or set(FIGURES)
        if "memory" in wanted:
            wanted |= {"train", "predict"}
        if "imports" in wanted:
            plan.append(("imports", self.figure_imports))
        if "train" in wanted:
            plan.append((f"train {self.s.small_rows:,}", lambda: self.figure_train(self.s.small_rows, False)))
            plan.append((f"train {self.s.rows:,}", lambda: self.figure_train(self.s.rows, True)))
        for name, figure in (
            ("predict", self.figure_predict),
            ("status", self.figure_status),
            ("aging", self.figure_aging),
            ("sweep", self.figure_sweep),
            ("readonly", self.figure_readonly),
            ("fixed", self.figure_fixed),
            ("boosting", self.figure_boosting),
        ):
            if name in wanted:
                plan.append((name, figure))
        ok = True
        for name, figure in plan:
            started = time.perf_counter()
            try:
                figure()
            except Exception as exc:  # keep going: one broken figure must not cost the others
                ok = False
                traceback.print_exc()
                self.rows.append(Row(0, f"{name}: ERROR", "—", "—", None, "—", "ERROR"))
                self.notes.append(f"{name}: ERROR: {str(exc).strip().splitlines()[0]}")
            self.durations[name] = time.perf_counter() - started
        if "memory" in wanted:
            self.figure_memory()
        return ok


# -------------------------------------------------------------------- the report


def machine() -> list[str]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""

    def field_of(name: str) -> str | None:
        match = re.search(rf"^{name}\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
        return match[1].strip() if match else None

    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    total = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.MULTILINE)
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [
        f"- CPU: {field_of('model name') or platform.processor() or 'unknown'}",
        f"- Cores: {available} usable by this process, {os.cpu_count()} logical CPUs, "
        f"{field_of('cpu cores') or '?'} cores per socket (/proc/cpuinfo), "
        f"cache {field_of('cache size') or '?'}",
        f"- Memory: {int(total[1]) / 2**20:.1f} GiB" if total else "- Memory: unknown",
        f"- OS: {platform.platform()}",
        f"- Python: {platform.python_version()} ({platform.python_implementation()})",
    ]
    versions = []
    for name in LIBRARIES:
        try:
            versions.append(f"{name} {importlib_metadata.version(name)}")
        except importlib_metadata.PackageNotFoundError:
            versions.append(f"{name} not installed")
    lines.append(f"- Libraries: {', '.join(versions)}")
    threads = {k: v for k, v in os.environ.items() if re.match(r"(OMP|OPENBLAS|MKL|NUMEXPR)_", k)}
    lines.append(f"- Thread/BLAS environment: {threads or 'none set'}")
    return lines


def compile_package() -> None:
    """Byte-compile easy_mlops as installing its wheel would, so no timed run compiles it.

    An editable install has no ``.pyc`` until the first import writes them, and
    none at all where ``PYTHONDONTWRITEBYTECODE`` is set.
    """
    import compileall
    from importlib.util import find_spec

    for location in find_spec("easy_mlops").submodule_search_locations:
        compileall.compile_dir(location, quiet=1)


def table(rows: list[Row]) -> list[str]:
    lines = ["| figure | framework | baseline | ratio | target | result |", "|---|---|---|---|---|---|"]
    for row in sorted(rows, key=lambda r: r.number):
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "—"
        number = f"{row.number}. " if row.number else ""
        cells = [f"{number}{row.figure}", row.framework, row.baseline, ratio, row.target, row.result]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_report(
    path: Path,
    bench: Bench,
    settings: Settings,
    quick: bool,
    only: set[str],
    argv: list[str],
    started_at: datetime,
    elapsed: float,
    load: tuple[tuple[float, ...], tuple[float, ...]],
) -> None:
    command = " ".join(["python bench/run.py", *argv])
    s = settings
    lines = ["# Benchmark results", ""]
    if quick:
        lines += [
            "**QUICK RUN: small sizes, one run each. These numbers only show that the scripts work.**",
            "",
        ]
    if only:
        lines += [f"Partial run: only {', '.join(sorted(only))}.", ""]
    lines += [
        f"Date: {started_at:%Y-%m-%d %H:%M} UTC. Command: `{command}`. Took {elapsed / 60:.1f} min.",
        "",
        "## Machine",
        "",
        *machine(),
        f"- Load average (1, 5, 15 min) at start {load[0]}, at end {load[1]}",
        "",
        "## Results",
        "",
        *table(bench.rows),
        "",
        "## Method",
        "",
        "- Every timed command is a separate process started from a scratch directory; the time is "
        "wall time from process creation until it is reaped, the memory its peak RSS (`ru_maxrss` from "
        "`os.wait4`, taken in a small runner process whose own ~15 MiB is the floor: see `bench/timing.py`).",
        f"- Each figure is the median of {s.repeat} runs (the sweep: median of {s.sweep_repeat}, "
        f"because it is slow). Each ratio is median(framework) / median(baseline), both measured in "
        f"this invocation with the sides alternating (A, B, A, B, ...; three sides: A, B, C, A, B, C, ...), "
        f"so drift of the machine's load affects both alike.",
        f"- Data (`bench/data.py`): `make_classification`, 20 numeric columns, 3 classes, plus two "
        f"categorical columns derived from the numeric ones; target last (`target`). Training tables "
        f"use seed {data.TRAIN_SEED}, scoring tables seed {data.SCORING_SEED} without the target.",
        f"- Sizes: train {s.rows:,} and {s.small_rows:,} rows; batch predict {s.predict_rows:,} rows with "
        f"the models trained on {s.rows:,} rows (the framework's deployment against the baseline's own "
        f"ColumnTransformer and forest from `bench/baselines/train.py`); status at "
        f"{s.status_predictions:,} predictions; aging {s.aging_calls} calls of {s.aging_rows:,} rows; "
        f"sweep jobs on {s.sweep_rows:,} rows.",
        "- Train: `make-mlops-easy train DATA deployment.output_dir=TMP trainer.cv_folds=null` vs "
        "`python bench/baselines/train.py DATA OUTDIR`; in the same rotation "
        "`python -m easy_mlops.run data=csv data.path=DATA` with the same output directory keys.",
        "- Batch predict: each framework run scores a fresh copy of the deployment (copied before the "
        "clock starts), so every logging-on run appends to an empty predictions log; stdout goes to "
        "/dev/null.",
        "- The `easy_mlops` package is byte-compiled before the first run, as a wheel install does; "
        "the baselines are single scripts.",
        "- Status and aging use a deployment trained by the framework on the smaller training table. "
        "Status: 0 predictions vs predictions appended with "
        '`deployment_monitor(dir).log_predictions(array, "1.0.0")` in batches of 100,000, one warm-up round.',
        '- Import time: `python -X importtime -c "import MODULE"`, the sum of the cumulative times of the '
        "top-level `easy_mlops` lines; the largest contributors are the self times summed per top-level "
        "package; one warm-up round.",
        "",
        "## Checks",
        "",
        *[f"- {note}" for note in bench.notes],
        "",
        "## Time per figure",
        "",
        *[f"- {name}: {value:.0f} s" for name, value in bench.durations.items()],
        "",
        "Each includes generating its data and any untimed training it needed.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, Settings]:
    parser = argparse.ArgumentParser(
        description="Run the make-mlops-easy benchmarks; write bench/RESULTS.md."
    )
    parser.add_argument("--rows", type=int, help="training rows (default 200,000)")
    parser.add_argument("--small-rows", type=int, help="second training size (default 20,000)")
    parser.add_argument("--predict-rows", type=int, help="batch scoring rows (default 1,000,000)")
    parser.add_argument("--status-predictions", type=int, help="logged predictions for status (1,000,000)")
    parser.add_argument("--aging-rows", type=int, help="rows per aging call (10,000)")
    parser.add_argument("--aging-calls", type=int, help="aging calls (50)")
    parser.add_argument("--aging-window", type=int, help="first/last calls compared (10)")
    parser.add_argument("--sweep-rows", type=int, help="training rows of each sweep job (20,000)")
    parser.add_argument("--tiny-rows", type=int, help="training rows where only fixed costs show (1,000)")
    parser.add_argument("--fixed-sweep-jobs", type=int, help="jobs of the fixed-cost sweep (16)")
    parser.add_argument("--repeat", type=int, help="runs per side (default 5)")
    parser.add_argument("--sweep-repeat", type=int, help="runs per side of the sweep (default 3)")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, one run each: check the scripts work"
    )
    parser.add_argument("--only", action="append", choices=FIGURES, default=[], help="run only this figure")
    parser.add_argument(
        "--output", type=Path, help="default bench/RESULTS.md (--quick: bench/RESULTS.quick.md)"
    )
    parser.add_argument("--keep-temp", action="store_true", help="leave the temporary directory in place")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else Settings()
    values = {}
    for setting in fields(Settings):
        given = getattr(args, setting.name)
        values[setting.name] = given if given is not None else getattr(base, setting.name)
    settings = Settings(**values)
    if settings.aging_window * 2 > settings.aging_calls:
        parser.error("--aging-calls must be at least twice --aging-window")
    return args, settings


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args, settings = parse_args(argv)
    output = args.output or BENCH_DIR / ("RESULTS.quick.md" if args.quick else "RESULTS.md")
    started_at, started = datetime.now(UTC), time.perf_counter()
    load_start = tuple(round(x, 2) for x in os.getloadavg())
    root = Path(tempfile.mkdtemp(prefix="easy-mlops-bench-"))
    say(f"temporary directory: {root}")
    try:
        bench = Bench(settings, root)
        ok = bench.run(set(args.only))
    finally:
        if args.keep_temp:
            say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    elapsed = time.perf_counter() - started
    load_end = tuple(round(x, 2) for x in os.getloadavg())
    write_report(
        output, bench, settings, args.quick, set(args.only), argv, started_at, elapsed, (load_start, load_end)
    )
    say("\n" + "\n".join(table(bench.rows)))
    say(f"\nwrote {output} ({elapsed / 60:.1f} min)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
