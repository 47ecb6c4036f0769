"""The experiment: load data → preprocess and train → deploy → observe.

:func:`run_experiment` is the one implementation; the Hydra app, the CLI and
the guide's ``MLOpsPipeline`` API (:mod:`easy_mlops.guide`) all call it with the
typed experiment their composed config becomes
(:func:`~easy_mlops.config.experiment.build_experiment`).
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from easy_mlops.config.compose import compose_config
from easy_mlops.config.experiment import Experiment, build_experiment
from easy_mlops.console import phase, say
from easy_mlops.data.loaders import load_dataset
from easy_mlops.deployment import steps as deployment_steps
from easy_mlops.deployment.deployer import Deployer
from easy_mlops.deployment.steps import utc_now
from easy_mlops.errors import DataError
from easy_mlops.metrics import optimized_metric
from easy_mlops.observability import steps as observability_steps
from easy_mlops.observability.monitor import Monitor
from easy_mlops.tracking import build_tracker, git_commit, parent_run
from easy_mlops.training.trainer import check_device, resolve_problem_type, train


def run_experiment(
    experiment: Experiment | DictConfig,
    run_info: Mapping[str, Any] | None = None,
    deploy: bool | None = None,
    clock: Callable[[], datetime] = utc_now,
    report: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train on the configured data and, unless told not to, deploy and log metrics.

    ``experiment`` is the typed config (:func:`build_experiment`); nothing here
    changes it: the problem type it finds is a result. Everything that can be
    checked without training (steps, targets, problem type) is checked first,
    so a bad config costs no fit. ``clock`` names the deployment (tests and
    replays of history pin it). ``report`` gets the results once the
    deployment is complete, before they are tracked: a tracking server that
    fails still leaves the metrics and the deployment shown. Returns
    ``{"training": ..., "deployment": artifacts, "alerts": [...]}`` (and ``"tracking"``).
    A composed DictConfig is made the experiment first, with ``run_info``'s overrides.
    """
    if not isinstance(experiment, Experiment):
        experiment = build_experiment(experiment, (run_info or {}).get("overrides", ()))
    cfg = experiment.config
    deploy = cfg.deploy if deploy is None else deploy
    trusted = tuple(cfg.trusted_modules)
    check_device(cfg.trainer)  # a GPU asked for, before any data is read
    monitor = Monitor(cfg.observability, trusted_modules=trusted)  # a bad step or statistic too
    with phase("Loading data"):
        frame, target, source = load_dataset(cfg.data)
    say_text_format(source, cfg.data)
    if not cfg.data.target:
        say(f"target: {target} (the last column; choose another with data.target=... or --target)")
    with naming_the_data(source):
        problem_type = resolve_problem_type(cfg.trainer, frame[target], target)
    optimized_metric(cfg.optimized_metric, problem_type)  # a metric this run computes
    tracker = build_tracker(cfg.tracking) if deploy else None  # a missing extra fails here
    deployer = Deployer(cfg.deployment, trusted, clock) if deploy else None
    with phase(f"Training on {len(frame)} rows"), naming_the_data(source):
        model, preprocessor, training = train(
            frame, target, cfg.preprocessing, cfg.trainer, problem_type, trusted, cfg.optimized_metric
        )
    say_column_kinds(training.get("columns", {}))
    results: dict[str, Any] = {"training": training, "deployment": {}, "alerts": []}
    if deployer is None:
        if report is not None:
            report(results)
        return results
    info = {
        **(run_info or {}),
        "overrides": list(experiment.overrides),
        "data": source,
        "random_state": cfg.trainer.random_state,
        "config": experiment.snapshot(problem_type),
    }
    if log_uri := cfg.observability.log_uri:  # read back by every machine's copy (log_shipping.log_store)
        info["log_uri"] = log_uri if "://" in log_uri else str(Path(log_uri).resolve())
    if tracker is not None:
        info["git_commit"] = git_commit()

    def log_training_metrics(deployment_dir: Path) -> None:
        monitor.load(deployment_dir / "logs")
        results["alerts"] = monitor.log_metrics(
            training["metrics"], str(cfg.deployment.version), source="training"
        )

    with phase("Deploying"):
        results["deployment"] = deployer.deploy(
            model, preprocessor, training, run_info=info, on_published=log_training_metrics
        )
    if report is not None:
        report(results)
    if tracker is not None:
        with phase("Tracking"):
            results["tracking"] = tracker.log_deployment(
                results["deployment"]["deployment_dir"], parent_run(run_info)
            )
    return results


def say_text_format(source: Mapping[str, Any], data_cfg: Any) -> None:
    """Say how a text file was read when it was not the plain comma-separated, decimal-point kind,
    so a wrong guess is seen (and fixed with ``data.sep`` / ``data.decimal``)."""
    text_format = source.get("format") or {}
    usual_sep = "\t" if str(source.get("path", "")).lower().endswith(".tsv") else ","
    sep, decimal = text_format.get("sep", usual_sep), text_format.get("decimal", ".")
    if (sep, decimal) == (usual_sep, ".") or (data_cfg.sep, data_cfg.decimal) == (sep, decimal):
        return
    shown = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe", ".": "point"}
    say(
        f"read {Path(source['path']).name}: separator {shown.get(sep, repr(sep))}, "
        f"decimal {shown.get(decimal, repr(decimal))} (set data.sep / data.decimal to read it otherwise)"
    )


def say_column_kinds(columns: Mapping[str, Any]) -> None:
    """Say which columns were read as flags or dates rather than as text (:func:`training.read_as`)."""
    read_as = {
        "boolean": "true/false flags (1/0)",
        "date": "dates (year, month, day of week, days since 1970)",
    }
    for kind, names in columns.items():
        if kind in read_as:
            say(f"read {', '.join(names)} as {read_as[kind]}")
    for name, value in columns.get("blank_flags", {}).items():
        say(f"read empty cells of {name} as {str(value).lower()} (it holds no other value)")


@contextmanager
def naming_the_data(source: Mapping[str, Any]) -> Iterator[None]:
    """Prefix data errors with the file (or dataset) they are about."""
    where = str(source.get("path") or source.get("dataset"))
    try:
        yield
    except DataError as exc:
        if where in str(exc):
            raise
        raise DataError(f"{where}: {exc}") from exc


def compose_experiment(
    overrides: Sequence[str] = (), config_file: str | Path | None = None, config: Any = None
) -> DictConfig:
    """:func:`compose_config` knowing the registered steps, so a guide file's unknown step names the file."""
    step_names = {
        "deployment": deployment_steps.STEP_REGISTRY,
        "observability": observability_steps.STEP_REGISTRY,
    }
    return compose_config(overrides, config_file, config, step_names)


def quote_override(value: str) -> str:
    """A value safe to put after ``key=`` in a Hydra override."""
    escaped = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def data_overrides(data_path: str | Path | None, target_column: str | None) -> list[str]:
    """Overrides that point the ``data`` group at a file (and its target column)."""
    overrides = []
    if data_path is not None:
        overrides += ["data=csv", f"data.path={quote_override(str(data_path))}"]
    if target_column is not None:
        overrides.append(f"data.target={quote_override(target_column)}")
    return overrides
