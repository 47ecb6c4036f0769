"""``make-mlops-easy``: a thin shell over the functions the Hydra app calls.

Commands: train, predict, evaluate, serve, status, observe, list, gc, prune, push,
track, replay, sweeps show, init. Every user error is one line on stderr with exit code 2
(``--debug`` shows the traceback); ``status`` and ``evaluate`` with
``--fail-on-alert`` exit 3 when an alert is active; ``replay`` exits 1 when the
retrained model differs.
"""

import argparse
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

from easy_mlops import __version__
from easy_mlops.console import log_to_stderr, reporting_errors, stdout

ALERT_EXIT = 3
OUTPUT_DIR_OVERRIDE = "deployment.output_dir="
# key=value, +key=value, ++key=value, ~key[=value] (Hydra's override grammar, loosely).
OVERRIDE = re.compile(r"^(~[\w./@-]+(=.*)?|\+{0,2}[\w./@-]+=.*)$", re.S)


def build_parser() -> argparse.ArgumentParser:
    """The parser; commands that take OVERRIDEs collect them from what their options leave over.

    argparse cannot mix ``nargs="*"`` positionals with options in any order, and
    its intermixed parsing does not work with sub-commands; :func:`parse_args`
    takes the sub-command's unrecognised words as overrides instead.
    """
    parser = argparse.ArgumentParser(
        prog="make-mlops-easy",
        description="Train, deploy and observe tabular models.",
        epilog="Any OVERRIDE is a Hydra override, as for `python -m easy_mlops.run`: "
        "trainer=hist_gradient_boosting trainer.test_size=0.3 deployment.version=2.0.0",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for user errors")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # Each sub-command accepts --debug too, wherever it is typed.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Any, help: str, overrides: bool = False) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, parents=[common])
        sub.set_defaults(handler=handler, parser=sub, takes_overrides=overrides)
        return sub

    def models_option(sub: argparse.ArgumentParser, *positionals: str) -> None:
        """``--models DIR``; ``positionals`` are the command's, in order (``deployment.output_dir=DIR``
        typed among them is taken out and they are filled again)."""
        sub.set_defaults(positionals=positionals)
        sub.add_argument(
            "--models",
            metavar="DIR",
            help="where 'latest' and deployment names are looked up (default ./models; "
            "deployment.output_dir=DIR says the same)",
        )

    train = command("train", cmd_train, "train on a data file and deploy the model", overrides=True)
    train.usage = "%(prog)s DATA [--target COL] [-c FILE] [--no-deploy] [OVERRIDE ...]"
    train.add_argument("data", help="CSV, JSON, JSON Lines or Parquet file")
    train.add_argument("--target", help="target column (default: the last column)")
    train.add_argument("-c", "--config", help="YAML config in the guide's format (applied before OVERRIDEs)")
    train.add_argument("--no-deploy", action="store_true", help="train and evaluate only")

    predict = command("predict", cmd_predict, "score a data file with a deployment")
    predict.add_argument("data", help="CSV, JSON, JSON Lines or Parquet file")
    predict.add_argument("model_dir", metavar="MODEL_DIR", help="deployment directory, or 'latest'")
    models_option(predict, "data", "model_dir")
    predict.add_argument(
        "-o", "--output", help='write {"predictions": [...]} to this JSON file instead of stdout'
    )
    predict.add_argument(
        "--proba",
        action="store_true",
        help='add "classes" and each row\'s class "probabilities" (classifiers with predict_proba)',
    )
    predict.add_argument("--no-log", action="store_true", help="do not log these predictions")
    predict.add_argument(
        "--chunk-rows",
        type=positive_int,
        metavar="N",
        help="read, score and write N rows at a time: memory bounded by a chunk "
        "(files over 256 MiB are streamed in chunks of 100,000 rows anyway)",
    )
    predict.add_argument(
        "--engine",
        choices=["ray"],
        help="score a partitioned dataset (DATA a folder or URL prefix) on Ray, one task per file; "
        "-o names the output folder",
    )
    predict.add_argument(
        "--address", help="with --engine: a running cluster's address (default: start one here)"
    )
    predict.add_argument(
        "--skip-verify", action="store_true", help="load without checking artifact checksums"
    )

    serve = command(
        "serve", cmd_serve, "answer prediction requests over HTTP (MLflow's protocol)", overrides=True
    )
    serve.usage = "%(prog)s MODEL_DIR [--port N] [--workers N] [OVERRIDE ...]"
    serve.add_argument("model_dir", metavar="MODEL_DIR", help="deployment directory, 'latest' or a URL")
    models_option(serve, "model_dir")
    serve.add_argument("--port", type=int, help="shortcut for serve.port (default 8000)")
    serve.add_argument("--workers", type=int, help="shortcut for serve.workers (default 1)")

    evaluate = command("evaluate", cmd_evaluate, "measure a deployment's metrics on labelled live data")
    evaluate.add_argument("data", help="CSV, JSON, JSON Lines or Parquet file with the true labels")
    evaluate.add_argument("model_dir", metavar="MODEL_DIR", help="deployment directory, 'latest' or a URL")
    models_option(evaluate, "data", "model_dir")
    evaluate.add_argument("--target", help="label column (default: the deployment's target column)")
    evaluate.add_argument("--json", action="store_true", help="print the result as JSON")
    evaluate.add_argument(
        "--fail-on-alert", action="store_true", help=f"exit {ALERT_EXIT} when an alert is active"
    )
    evaluate.add_argument("--skip-verify", action="store_true", help="do not check artifact checksums")

    status = command("status", cmd_status, "metadata, metrics, predictions and alerts of a deployment")
    status.add_argument("model_dir", metavar="MODEL_DIR", help="deployment directory, or 'latest'")
    models_option(status, "model_dir")
    status.add_argument("--json", action="store_true", help="print the summary as JSON")
    status.add_argument(
        "--fail-on-alert", action="store_true", help=f"exit {ALERT_EXIT} when an alert is active"
    )
    status.add_argument("--skip-verify", action="store_true", help="do not check artifact checksums")

    observe = command("observe", cmd_observe, "print the monitoring report of a deployment")
    observe.add_argument("model_dir", metavar="MODEL_DIR", help="deployment directory, or 'latest'")
    models_option(observe, "model_dir")
    observe.add_argument("-o", "--output", help="also write the report to this file")
    observe.add_argument(
        "--html",
        metavar="FILE",
        help="write the report as one self-contained HTML page with charts (instead of printing it)",
    )

    listing = command("list", cmd_list, "list the deployments under an output directory")
    listing.add_argument("output_dir", nargs="?", metavar="OUTPUT_DIR", help="default: deployment.output_dir")
    models_option(listing, "output_dir")
    listing.add_argument("--json", action="store_true", help="print the rows as JSON")

    gc = command("gc", cmd_gc, "remove what killed deployments left behind")
    gc.add_argument("output_dir", nargs="?", metavar="OUTPUT_DIR", help="default: deployment.output_dir")
    models_option(gc, "output_dir")
    gc.add_argument(
        "--grace", type=float, default=3600, help="only leftovers older than this many seconds (3600)"
    )

    prune = command("prune", cmd_prune, "remove old deployments, keeping the newest or each sweep's best")
    prune.add_argument("output_dir", nargs="?", metavar="OUTPUT_DIR", help="default: deployment.output_dir")
    models_option(prune, "output_dir")
    prune.add_argument("--keep", type=int, metavar="N", help="keep the newest N deployments")
    prune.add_argument("--keep-best", type=int, metavar="K", help="keep the best K of each sweep")
    prune.add_argument("--metric", help="rank each sweep by this metric (default: its optimized_metric)")
    prune.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    prune.add_argument(
        "--include-protected",
        action="store_true",
        help="may also remove `latest` and each sweep's rank-1 deployment",
    )

    push = command("push", cmd_push, "upload a deployment to object storage (again)")
    push.add_argument("model_dir", metavar="MODEL_DIR", help="deployment directory, or 'latest'")
    models_option(push, "model_dir")
    push.add_argument(
        "--uri", help="destination folder URL (default: the deployment's deployment.upload.uri)"
    )

    track = command("track", cmd_track, "log a deployment to MLflow (again, after tracking failed)")
    track.add_argument("model_dir", metavar="MODEL_DIR", help="deployment directory, or 'latest'")
    models_option(track, "model_dir")
    track.add_argument(
        "--uri",
        help="tracking URI (default: the run's tracking.uri, else $MLFLOW_TRACKING_URI, else ./mlruns)",
    )

    replay = command("replay", cmd_replay, "retrain a deployment from its config snapshot and compare")
    replay.add_argument("model_dir", metavar="MODEL_DIR", help="deployment directory, or 'latest'")
    models_option(replay, "model_dir")
    replay.add_argument("--data", help="the training data, if it moved since the deployment was made")

    logs = command("logs", None, "a deployment's log segments across machines")
    log_commands = logs.add_subparsers(dest="logs_command", required=True, metavar="SUBCOMMAND")
    for name, handler, help in (
        ("ship", cmd_logs_ship, "ship what this machine logged and has not shipped yet"),
        ("compact", cmd_logs_compact, "merge every segment into one, so status reads one"),
    ):
        sub = log_commands.add_parser(name, help=help, parents=[common])
        sub.add_argument("model_dir", metavar="MODEL_DIR", help="deployment directory, 'latest' or a URL")
        models_option(sub, "model_dir")
        sub.set_defaults(handler=handler, parser=sub, takes_overrides=False)

    sweeps = command("sweeps", None, "sweep leaderboards")
    sweep_commands = sweeps.add_subparsers(dest="sweeps_command", required=True, metavar="SUBCOMMAND")
    show = sweep_commands.add_parser(
        "show", help="print the leaderboard of a sweep directory", parents=[common]
    )
    show.add_argument("sweep_dir", metavar="SWEEP_DIR", help="e.g. outputs/multirun/2024-01-01/12-00-00")
    show.add_argument("--json", action="store_true", help="print sweep_summary.json")
    show.set_defaults(handler=cmd_sweeps_show, parser=show)

    init = command("init", cmd_init, "write the default configuration in the guide's YAML format")
    init.add_argument("-o", "--output", default="mlops-config.yaml", help="default: mlops-config.yaml")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    return parser


def positive_int(text: str) -> int:
    """An argument that must be a whole number above zero."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above zero")
    return value


def default_output_dir() -> str:
    from easy_mlops.config.config import DeploymentConfig

    return DeploymentConfig.output_dir


def cmd_train(args: argparse.Namespace) -> int:
    from easy_mlops.config.experiment import build_experiment
    from easy_mlops.console import print_results
    from easy_mlops.pipeline import compose_experiment, data_overrides, run_experiment
    from easy_mlops.runtime import settle

    settle()  # the imports, before composing
    overrides = data_overrides(args.data, args.target) + list(args.overrides)
    experiment = build_experiment(compose_experiment(overrides, config_file=args.config), overrides)
    settle()  # the composed config and Hydra's state
    run_info = {
        "overrides": overrides,
        "config_file": str(Path(args.config).resolve()) if args.config else None,
    }
    results = run_experiment(experiment, run_info=run_info, deploy=not args.no_deploy, report=print_results)
    deployed = results["deployment"].get("deployment_dir")
    if deployed:
        under_default = Path(deployed).parent == Path(default_output_dir()).resolve()
        stdout().print(f"Next: make-mlops-easy predict NEW.csv {'latest' if under_default else deployed}")
    return 0


def chosen_deployment(args: argparse.Namespace) -> str:
    """The deployment a command names: ``latest`` (which one it was is said once the command has
    succeeded: an error stays one line) or a name under ``--models``, or else a directory or URL."""
    from easy_mlops.deployment.catalog import LATEST, resolve_deployment
    from easy_mlops.deployment.storage import is_remote

    reference = str(args.model_dir)
    if reference == LATEST:
        directory = resolve_deployment(LATEST, args.models or default_output_dir())
        args.said_after = f"latest: {directory}"
        return str(directory)
    if args.models and not is_remote(reference) and not Path(reference).exists():
        named = Path(args.models) / reference
        if named.is_dir():
            return str(named)
    return reference


def cmd_predict(args: argparse.Namespace) -> int:
    from easy_mlops.data.loaders import check_data_file
    from easy_mlops.errors import DataError
    from easy_mlops.inference import (
        CHUNK_ROWS,
        STREAM_ABOVE_BYTES,
        check_output_file,
        score_file,
        stream_file,
    )
    from easy_mlops.runtime import settle

    if args.engine or args.address:
        return predict_on_engine(args)
    if Path(args.data).is_dir():
        raise DataError(
            f"{args.data}: is a directory; a dataset split in files is scored with --engine ray -o FOLDER"
        )
    check_data_file(args.data)  # the cheap checks before `latest` is resolved or a model loaded
    if args.output:
        check_output_file(args.output)
    output = args.output or sys.stdout
    reference = chosen_deployment(args)
    settle()  # the imports (pandas among them), before the data and the model are loaded
    log, verify = not args.no_log, not args.skip_verify
    if args.chunk_rows or Path(args.data).stat().st_size > STREAM_ABOVE_BYTES:
        chunk_rows = args.chunk_rows or CHUNK_ROWS
        rows = stream_file(args.data, reference, output, chunk_rows, log, verify, args.proba)
        how = f" ({chunk_rows:,} rows at a time)"
    else:
        rows, how = len(score_file(args.data, reference, log, verify, output, proba=args.proba)), ""
    if args.output:
        sys.stderr.write(f"wrote {rows:,} predictions to {args.output}{how}\n")
    return 0


def predict_on_engine(args: argparse.Namespace) -> int:
    """``predict DATA MODEL_DIR --engine ray -o OUTPUT``: a partitioned dataset, scored on a cluster."""
    from easy_mlops.batch import score_dataset

    if not args.engine:
        args.parser.error("--address goes with --engine ray")
    if not args.output:
        args.parser.error("--engine ray writes one predictions file per partition: name their folder with -o")
    done = score_dataset(
        args.data,
        chosen_deployment(args),
        args.output,
        args.engine,
        args.address,
        not args.no_log,
        not args.skip_verify,
        args.chunk_rows,
        args.proba,
    )
    partitions = "partition" if done["partitions"] == 1 else "partitions"
    sys.stderr.write(
        f"wrote {done['rows']:,} predictions of {done['partitions']} {partitions} to {done['output']} "
        f"({args.engine}, {done['workers']} CPUs, {done['seconds']:.1f} s, "
        f"peak worker memory {done['peak_worker_mib']:,.0f} MiB)\n"
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from easy_mlops.config.compose import compose_config
    from easy_mlops.serving.server import serve  # it refuses to start without the serving extra

    shortcuts = [
        f"serve.{key}={value}" for key in ("port", "workers") if (value := getattr(args, key)) is not None
    ]
    if args.models:
        shortcuts.append(f"deployment.output_dir={args.models}")
    cfg = compose_config([*shortcuts, *args.overrides])
    return serve(args.model_dir, cfg.serve, cfg.deployment.output_dir, announce=stdout().print)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from easy_mlops.evaluation import evaluate_file
    from easy_mlops.observability.report import evaluation_view
    from easy_mlops.runtime import settle

    reference = chosen_deployment(args)
    settle()  # the imports, before the data and the model are loaded
    result = evaluate_file(args.data, reference, args.target, verify=not args.skip_verify)
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    else:
        for part in evaluation_view(result):
            stdout().print(part)
    if args.fail_on_alert and result["alerts"]:
        return ALERT_EXIT
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from easy_mlops.observability.report import status_view
    from easy_mlops.status import deployment_status

    status = deployment_status(chosen_deployment(args), verify=not args.skip_verify)
    if args.json:
        sys.stdout.write(json.dumps(status, indent=2, default=str) + "\n")
    else:
        for part in status_view(status):
            stdout().print(part)
    if args.fail_on_alert and status["alerts"].get("active_alerts"):
        return ALERT_EXIT
    return 0


def cmd_observe(args: argparse.Namespace) -> int:
    from easy_mlops.files import write_text_atomic
    from easy_mlops.inference import check_output_file
    from easy_mlops.status import deployment_html_report, deployment_report

    for path in (args.output, args.html):
        if path:
            check_output_file(path, "the report")
    reference = chosen_deployment(args)
    if args.output or not args.html:
        report = deployment_report(reference)
        if args.output:
            write_text_atomic(Path(args.output), report)
        if not args.html:
            sys.stdout.write(report)
            return 0
    write_text_atomic(Path(args.html), deployment_html_report(reference))
    # The page is what was asked for: say where it is, not the whole report again.
    sys.stdout.write(f"wrote the HTML report to {args.html}\n")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from easy_mlops.deployment.catalog import list_deployments
    from easy_mlops.deployment.storage import is_remote, list_remote
    from easy_mlops.observability.report import deployments_table
    from easy_mlops.status import deployment_row, remote_row

    output_dir = args.output_dir or args.models or default_output_dir()
    if is_remote(output_dir):
        rows = [remote_row(metadata, local_copy) for metadata, local_copy in list_remote(output_dir)]
    else:
        rows = [deployment_row(directory, metadata) for directory, metadata in list_deployments(output_dir)]
    if args.json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    stdout().print(deployments_table(rows, f"Deployments in {output_dir}"))
    if not rows:
        stdout().print("no deployments yet: run `make-mlops-easy train DATA`")
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    from easy_mlops.deployment.catalog import collect_garbage

    removed = collect_garbage(args.output_dir or args.models or default_output_dir(), args.grace)
    for path in removed:
        stdout().print(f"removed {path}")
    stdout().print(f"{len(removed)} leftover(s) removed")
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from easy_mlops.deployment.catalog import prune_plan, remove_deployment

    doomed = prune_plan(
        args.output_dir or args.models or default_output_dir(),
        args.keep,
        args.keep_best,
        args.metric,
        args.include_protected,
    )
    for directory in doomed:
        if not args.dry_run:
            remove_deployment(directory)
        stdout().print(f"{'would remove' if args.dry_run else 'removed'} {directory}")
    stdout().print(f"{len(doomed)} deployment(s) {'to remove' if args.dry_run else 'removed'}")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from easy_mlops.deployment.catalog import resolve_deployment
    from easy_mlops.deployment.storage import push_deployment, upload_settings

    directory = resolve_deployment(chosen_deployment(args))
    uri, storage_options = upload_settings(directory, args.uri)
    stdout().print(f"Uploaded to {push_deployment(directory, uri, storage_options)}")
    return 0


def cmd_logs_ship(args: argparse.Namespace) -> int:
    from easy_mlops.deployment.catalog import resolve_deployment
    from easy_mlops.log_shipping import ship_now

    shipped, where = ship_now(resolve_deployment(chosen_deployment(args)))
    what = f"{shipped.rows} prediction(s) to {where}" if shipped else f"nothing new to {where}"
    stdout().print(f"Shipped {what}")
    return 0


def cmd_logs_compact(args: argparse.Namespace) -> int:
    from easy_mlops.deployment.catalog import resolve_deployment
    from easy_mlops.log_shipping import compact

    directory = resolve_deployment(chosen_deployment(args))
    merged, rows, where = compact(directory)
    if merged:
        stdout().print(f"Compacted {merged} segments ({rows} predictions) into {where}")
    else:
        stdout().print(f"Nothing to compact: {where} holds one segment or none")
    return 0


def cmd_track(args: argparse.Namespace) -> int:
    from easy_mlops.deployment.catalog import resolve_deployment
    from easy_mlops.tracking import track_deployment

    directory = resolve_deployment(chosen_deployment(args))
    record = track_deployment(directory, args.uri)
    registered = record.get("registered_model")
    stdout().print(
        f"Logged {directory.name} as MLflow run {record['run_id']} at {record['uri']}"
        + (f"; registered as {registered['name']} version {registered['version']}" if registered else ""),
    )
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from easy_mlops.deployment.catalog import resolve_deployment
    from easy_mlops.replay import replay

    directory = resolve_deployment(chosen_deployment(args))
    stdout().print(f"Replaying {directory}")
    report = replay(directory, args.data)
    for change in report.changes:
        stdout().print(f"changed since the deployment: {change}")
    if report.identical:
        stdout().print(
            f"PASS: metrics and {report.compared_predictions} hold-out predictions are identical",
        )
        return 0
    stdout().print("FAIL: the retrained model differs")
    for difference in report.differences:
        stdout().print(f"  {difference}")
    return 1


def cmd_sweeps_show(args: argparse.Namespace) -> int:
    from easy_mlops.sweeps.board import leaderboard_table, read_leaderboard

    board = read_leaderboard(args.sweep_dir)
    if args.json:
        sys.stdout.write(json.dumps(board, indent=2) + "\n")
    else:
        stdout().print(leaderboard_table(board))
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from easy_mlops.config.guide_format import default_guide_yaml
    from easy_mlops.errors import ConfigError
    from easy_mlops.files import write_text_atomic

    path = Path(args.output)
    if path.exists() and not args.force:
        raise ConfigError(f"{path}: already exists; pass --force to overwrite it")
    write_text_atomic(path, default_guide_yaml())
    stdout().print(f"Wrote {path}: use it with `make-mlops-easy train DATA -c {path}`")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Options, positionals and overrides in any order; errors show the sub-command's usage.

    What the sub-command's options and positionals leave over are its
    OVERRIDEs; a positional typed after the overrides still fills its slot.
    """
    args, leftover = build_parser().parse_known_args(argv)
    parser: argparse.ArgumentParser = args.parser
    if hasattr(args, "models") and not args.takes_overrides:
        leftover = take_output_dir(args, leftover)
    if not args.takes_overrides and leftover:
        parser.error(f"unrecognized arguments: {' '.join(leftover)}")
    unknown = [word for word in leftover if word.startswith("-")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    data = getattr(args, "data", None) or getattr(args, "model_dir", None)
    if data and OVERRIDE.match(data) and not all(OVERRIDE.match(word) for word in leftover):
        # `train trainer=mlp churn.csv`: the data file is the first word that is no override.
        words = [data, *leftover]
        positional = next(word for word in words if not OVERRIDE.match(word))
        setattr(args, "data" if hasattr(args, "data") else "model_dir", positional)
        leftover = [word for word in words if word is not positional]
    bad = [word for word in leftover if not OVERRIDE.match(word)]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)} (an OVERRIDE is key=value)")
    args.overrides = leftover
    return args


def take_output_dir(args: argparse.Namespace, leftover: list[str]) -> list[str]:
    """``deployment.output_dir=DIR`` typed anywhere, the override ``train`` understands, as ``--models
    DIR``; the positionals it displaced are filled again in typed order. Returns the words left over."""
    slots = args.positionals
    words = [value for slot in slots if (value := getattr(args, slot)) is not None] + list(leftover)
    for word in words:
        if word.startswith(OUTPUT_DIR_OVERRIDE):
            args.models = word.removeprefix(OUTPUT_DIR_OVERRIDE)
    words = [word for word in words if not word.startswith(OUTPUT_DIR_OVERRIDE)]
    for slot in slots:
        setattr(args, slot, words.pop(0) if words else None)
        if getattr(args, slot) is None and slot != "output_dir":  # OUTPUT_DIR is optional
            args.parser.error(f"the following arguments are required: {slot.upper()}")
    return words


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script; exits with the command's code."""
    args = parse_args(argv)
    log_to_stderr(logging.DEBUG if args.debug else logging.WARNING)
    with reporting_errors(args.debug):
        code = args.handler(args)
    if getattr(args, "said_after", None):
        sys.stderr.write(f"{args.said_after}\n")
    sys.exit(code)
