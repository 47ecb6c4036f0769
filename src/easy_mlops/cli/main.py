"""``make-mlops-easy``: a thin shell over the functions the Hydra app calls.

Commands: train, predict, status, observe, list, gc, push, replay, sweeps show, init.
Every user error is one line on stderr with exit code 2 (``--debug`` shows the
traceback); ``status --fail-on-alert`` exits 3 when an alert is active;
``replay`` exits 1 when the retrained model differs.
"""

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from easy_mlops.console import log_to_stderr, reporting_errors, stdout

ALERT_EXIT = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="make-mlops-easy",
        description="Train, deploy and observe tabular models.",
        epilog="Any OVERRIDE is a Hydra override, as for `python -m easy_mlops.run`: "
        "trainer=hist_gradient_boosting trainer.test_size=0.3 deployment.version=2.0.0",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for user errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train on a data file and deploy the model")
    train.add_argument("data", help="CSV, JSON, JSON Lines or Parquet file")
    train.add_argument("--target", help="target column (default: the last column)")
    train.add_argument("-c", "--config", help="YAML config in the guide's format (applied before OVERRIDEs)")
    train.add_argument("--no-deploy", action="store_true", help="train and evaluate only")
    train.add_argument("overrides", nargs="*", metavar="OVERRIDE", help="Hydra override, e.g. trainer=mlp")
    train.set_defaults(handler=cmd_train)

    predict = commands.add_parser("predict", help="score a data file with a deployment")
    predict.add_argument("data", help="CSV, JSON, JSON Lines or Parquet file")
    predict.add_argument("model_dir", metavar="MODEL_DIR", help="deployment directory, or 'latest'")
    predict.add_argument(
        "-o", "--output", help='write {"predictions": [...]} to this JSON file instead of stdout'
    )
    predict.add_argument("--no-log", action="store_true", help="do not log these predictions")
    predict.add_argument(
        "--skip-verify", action="store_true", help="load without checking artifact checksums"
    )
    predict.set_defaults(handler=cmd_predict)

    status = commands.add_parser("status", help="metadata, metrics, predictions and alerts of a deployment")
    status.add_argument("model_dir", metavar="MODEL_DIR", help="deployment directory, or 'latest'")
    status.add_argument("--json", action="store_true", help="print the summary as JSON")
    status.add_argument(
        "--fail-on-alert", action="store_true", help=f"exit {ALERT_EXIT} when an alert is active"
    )
    status.add_argument("--skip-verify", action="store_true", help="do not check artifact checksums")
    status.set_defaults(handler=cmd_status)

    observe = commands.add_parser("observe", help="print the monitoring report of a deployment")
    observe.add_argument("model_dir", metavar="MODEL_DIR", help="deployment directory, or 'latest'")
    observe.add_argument("-o", "--output", help="also write the report to this file")
    observe.set_defaults(handler=cmd_observe)

    listing = commands.add_parser("list", help="list the deployments under an output directory")
    listing.add_argument("output_dir", nargs="?", metavar="OUTPUT_DIR", help="default: deployment.output_dir")
    listing.add_argument("--json", action="store_true", help="print the rows as JSON")
    listing.set_defaults(handler=cmd_list)

    gc = commands.add_parser("gc", help="remove what killed deployments left behind")
    gc.add_argument("output_dir", nargs="?", metavar="OUTPUT_DIR", help="default: deployment.output_dir")
    gc.add_argument(
        "--grace", type=float, default=3600, help="only leftovers older than this many seconds (3600)"
    )
    gc.set_defaults(handler=cmd_gc)

    push = commands.add_parser("push", help="upload a deployment to object storage (again)")
    push.add_argument("model_dir", metavar="MODEL_DIR", help="deployment directory, or 'latest'")
    push.add_argument(
        "--uri", help="destination folder URL (default: the deployment's deployment.upload.uri)"
    )
    push.set_defaults(handler=cmd_push)

    replay = commands.add_parser("replay", help="retrain a deployment from its config snapshot and compare")
    replay.add_argument("model_dir", metavar="MODEL_DIR", help="deployment directory, or 'latest'")
    replay.add_argument("--data", help="the training data, if it moved since the deployment was made")
    replay.set_defaults(handler=cmd_replay)

    sweeps = commands.add_parser("sweeps", help="sweep leaderboards")
    sweep_commands = sweeps.add_subparsers(dest="sweeps_command", required=True, metavar="SUBCOMMAND")
    show = sweep_commands.add_parser("show", help="print the leaderboard of a sweep directory")
    show.add_argument("sweep_dir", metavar="SWEEP_DIR", help="e.g. outputs/multirun/2024-01-01/12-00-00")
    show.add_argument("--json", action="store_true", help="print sweep_summary.json")
    show.set_defaults(handler=cmd_sweeps_show)

    init = commands.add_parser("init", help="write the default configuration in the guide's YAML format")
    init.add_argument("-o", "--output", default="mlops-config.yaml", help="default: mlops-config.yaml")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(handler=cmd_init)
    return parser


def default_output_dir() -> str:
    from easy_mlops.config.compose import compose_config

    return compose_config().deployment.output_dir


def deployment_dir(reference: str) -> Path:
    """A local deployment directory from a path, ``latest`` or a URL (fetched into the cache)."""
    from easy_mlops.deployment.catalog import LATEST, resolve_deployment

    return resolve_deployment(reference, default_output_dir() if reference == LATEST else ".")


def cmd_train(args: argparse.Namespace) -> int:
    from easy_mlops.config.compose import compose_config
    from easy_mlops.console import print_results
    from easy_mlops.pipeline import data_overrides, run_experiment

    overrides = data_overrides(args.data, args.target) + list(args.overrides)
    cfg = compose_config(overrides, config_file=args.config)
    run_info = {
        "overrides": overrides,
        "config_file": str(Path(args.config).resolve()) if args.config else None,
    }
    print_results(run_experiment(cfg, run_info=run_info, deploy=not args.no_deploy))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from easy_mlops.deployment.remote import is_remote
    from easy_mlops.files import write_text_atomic
    from easy_mlops.inference import predict_file

    reference = args.model_dir if is_remote(args.model_dir) else deployment_dir(args.model_dir)
    predictions = predict_file(args.data, reference, not args.no_log, not args.skip_verify)
    text = json.dumps({"predictions": predictions}) + "\n"
    if args.output:
        write_text_atomic(Path(args.output), text)
        sys.stderr.write(f"wrote {len(predictions):,} predictions to {args.output}\n")
    else:
        sys.stdout.write(text)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from easy_mlops.observability.status import deployment_status

    status = deployment_status(deployment_dir(args.model_dir), verify=not args.skip_verify)
    if args.json:
        sys.stdout.write(json.dumps(status, indent=2, default=str) + "\n")
    else:
        print_status(status)
    if args.fail_on_alert and status["alerts"].get("active_alerts"):
        return ALERT_EXIT
    return 0


def cmd_observe(args: argparse.Namespace) -> int:
    from easy_mlops.deployment.loading import read_metadata
    from easy_mlops.files import write_text_atomic
    from easy_mlops.observability.monitor import deployment_monitor
    from easy_mlops.observability.report import render_report

    directory = deployment_dir(args.model_dir)
    metadata = read_metadata(directory)
    title = f"Model monitoring report: {directory.name} (version {metadata.get('version')})"
    report = render_report(deployment_monitor(directory).summary(), title)
    if args.output:
        write_text_atomic(Path(args.output), report)
    sys.stdout.write(report)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from easy_mlops.deployment.catalog import list_deployments
    from easy_mlops.deployment.remote import is_remote, list_remote
    from easy_mlops.observability.status import deployment_row, remote_row

    output_dir = args.output_dir or default_output_dir()
    if is_remote(output_dir):
        rows = [remote_row(metadata, local_copy) for metadata, local_copy in list_remote(output_dir)]
    else:
        rows = [deployment_row(directory, metadata) for directory, metadata in list_deployments(output_dir)]
    if args.json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    from rich.table import Table

    table = Table(title=f"Deployments in {output_dir}", title_justify="left")
    for column in ("name", "time", "version", "problem", "metric", "status", "alerts", "predictions"):
        table.add_column(column)
    for row in rows:
        headline = row["headline_metric"]
        table.add_row(
            row["name"],
            str(row["deployment_time"])[:19].replace("T", " "),
            str(row["version"]),
            str(row["problem_type"]),
            f"{headline['name']} {headline['value']:.4f}" if headline else "-",
            str(row["status"]),
            "-" if row["active_alerts"] is None else str(row["active_alerts"] or "ok"),
            str(row["total_predictions"]) if row["total_predictions"] is not None else "-",
        )
    stdout.print(table)
    if not rows:
        stdout.print("no deployments yet: run `make-mlops-easy train DATA`")
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    from easy_mlops.deployment.catalog import collect_garbage

    removed = collect_garbage(args.output_dir or default_output_dir(), args.grace)
    for path in removed:
        stdout.print(f"removed {path}", markup=False)
    stdout.print(f"{len(removed)} leftover(s) removed", markup=False)
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from easy_mlops.deployment.remote import push_deployment, upload_settings

    directory = deployment_dir(args.model_dir)
    uri, storage_options = upload_settings(directory, args.uri)
    stdout.print(f"Uploaded to {push_deployment(directory, uri, storage_options)}", markup=False)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from easy_mlops.replay import replay

    directory = deployment_dir(args.model_dir)
    stdout.print(f"Replaying {directory}")
    report = replay(directory, args.data)
    for change in report.changes:
        stdout.print(f"changed since the deployment: {change}", markup=False)
    if report.identical:
        stdout.print(
            f"PASS: metrics and {report.compared_predictions} hold-out predictions are identical",
            markup=False,
        )
        return 0
    stdout.print("FAIL: the retrained model differs", markup=False)
    for difference in report.differences:
        stdout.print(f"  {difference}", markup=False)
    return 1


def cmd_sweeps_show(args: argparse.Namespace) -> int:
    from easy_mlops.sweeps.leaderboard import leaderboard_table, read_leaderboard

    board = read_leaderboard(args.sweep_dir)
    if args.json:
        sys.stdout.write(json.dumps(board, indent=2) + "\n")
    else:
        stdout.print(leaderboard_table(board))
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from easy_mlops.config.guide_format import default_guide_yaml
    from easy_mlops.errors import ConfigError
    from easy_mlops.files import write_text_atomic

    path = Path(args.output)
    if path.exists() and not args.force:
        raise ConfigError(f"{path}: already exists; pass --force to overwrite it")
    write_text_atomic(path, default_guide_yaml())
    stdout.print(f"Wrote {path}: use it with `make-mlops-easy train DATA -c {path}`")
    return 0


def print_status(status: dict[str, Any]) -> None:
    from rich.table import Table

    deployment = status["deployment"]
    table = Table(title=f"Deployment {deployment['name']}", title_justify="left", show_header=False)
    for key in (
        "directory",
        "status",
        "version",
        "deployment_time",
        "problem_type",
        "target_column",
        "integrity",
    ):
        table.add_row(key, str(deployment.get(key)))
    remote = deployment.get("remote")
    if remote:
        table.add_row(
            "remote",
            f"{remote.get('uri')} ({remote.get('status')}"
            + (f": {remote['error']})" if remote.get("error") else ")"),
        )
    stdout.print(table)

    metrics = status["metrics"]
    table = Table(title="Metrics", title_justify="left")
    for column in ("metric", "latest", "mean", "std", "min", "max"):
        table.add_column(column, justify="right" if column != "metric" else "left")
    trends = metrics.get("trends", {})
    for name, value in (metrics.get("latest_metrics") or {}).items():
        trend = trends.get(name)
        cells = [f"{trend[k]:.4f}" for k in ("mean", "std", "min", "max")] if trend else ["-"] * 4
        table.add_row(name, f"{value:.4f}", *cells)
    stdout.print(table)
    stdout.print(
        f"metric logs: {metrics.get('total_logs', 0)} (first {metrics.get('first_log') or '-'}, "
        f"last {metrics.get('last_log') or '-'})"
    )

    predictions = status["predictions"]
    if predictions.get("enabled") is False:
        stdout.print(predictions["message"])
    else:
        stdout.print(
            f"predictions logged: {predictions['total_predictions']} "
            f"(first {predictions['first_prediction'] or '-'}, last {predictions['last_prediction'] or '-'})"
        )
        distribution = predictions.get("distribution") or {}
        if distribution.get("kind") == "classes":
            stdout.print(
                "predicted classes: " + ", ".join(f"{k}: {v}" for k, v in distribution["counts"].items())
            )
        elif distribution.get("kind") == "numeric":
            stdout.print(
                f"predicted values: mean {distribution['mean']:.4g}, std {distribution['std']:.4g}, "
                + ", ".join(f"{q} {v:.4g}" for q, v in distribution["quantiles"].items())
            )
    alerts = status["alerts"].get("active_alerts", [])
    if not alerts:
        stdout.print("alerts: none active")
    for alert in alerts:
        comparison = "<" if alert["direction"] == "higher" else ">"
        stdout.print(
            f"[bold red]ALERT[/] {alert['metric']} = {alert['value']:.4f} {comparison} {alert['threshold']}"
        )


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script; exits with the command's code."""
    args = build_parser().parse_args(argv)
    log_to_stderr(logging.DEBUG if args.debug else logging.WARNING)
    with reporting_errors(args.debug):
        code = args.handler(args)
    sys.exit(code)
