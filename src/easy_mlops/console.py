"""Terminal output and error reporting shared by the Hydra app and the CLI.

Humans get rich tables and a progress spinner (only on a terminal); user
errors become one line on stderr and exit code 2, with the traceback kept
for ``--debug``.
"""

import logging
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

from easy_mlops.errors import MLOpsError

if TYPE_CHECKING:
    from rich.console import Console

log = logging.getLogger("easy_mlops")


@cache
def _console(to_stderr: bool) -> "Console":
    from rich.console import Console

    # Plain text: a path, a column or a label holding "[red]" or ":cat:" prints as written.
    console = Console(stderr=to_stderr, soft_wrap=True, highlight=False, markup=False, emoji=False)
    if not console.is_terminal:
        console.width = 200  # pipes and logs: keep table cells whole
    return console


def stdout() -> "Console":
    """The console for results, made on first use: a command that prints JSON never imports rich."""
    return _console(False)


def stderr() -> "Console":
    """The console for warnings and errors, made on first use."""
    return _console(True)


USER_ERROR_EXIT = 2


class StderrHandler(logging.Handler):
    """One ``level: message`` line per record on the (current) stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        stderr().print(f"{record.levelname.lower()}: {record.getMessage()}")


def log_to_stderr(level: int = logging.WARNING) -> None:
    """Send the package's log records to stderr, installing the handler once per process."""
    package_log = logging.getLogger("easy_mlops")
    if not any(isinstance(handler, StderrHandler) for handler in package_log.handlers):
        package_log.addHandler(StderrHandler())
    package_log.setLevel(level)


@contextmanager
def phase(description: str) -> Iterator[None]:
    """A spinner for one phase of a run on a terminal; a plain line on stdout otherwise.

    Piped or redirected output (``| tee``, CI logs) shows each phase as it
    starts, not only the results at the end; stderr stays for warnings and
    errors. The phase is logged too (the Hydra job's log file keeps it).
    """
    log.info("%s", description)
    if not (stdout().is_terminal and stderr().is_terminal):
        say(description)
        yield
        return
    with stderr().status(f"{description}..."):
        yield


def say(message: str) -> None:
    """One plain line for the person running the command, on stdout (flushed at once)."""
    stdout().print(message)


def print_results(results: Mapping[str, Any], job: str | None = None) -> None:
    """The hold-out metrics as a table, beside what the majority class or the mean scores, then
    where the deployment went.

    ``job`` names a sweep's job in the title (``job 3: trainer=mlp``): parallel
    jobs print their tables in whatever order they finish. The block is
    written at once, so it does not interleave with another job's.
    """
    from rich.table import Table

    from easy_mlops.observability.report import alert_text

    training = results["training"]
    title = f"Hold-out metrics ({training['problem_type']})" + (f", {job}" if job else "")
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    baseline = training.get("baseline_metrics") or {}
    if baseline:
        kind = "majority class" if training["problem_type"] == "classification" else "mean"
        table.add_column(f"baseline ({kind})", justify="right", style="dim")
    for name, value in training["metrics"].items():
        beside = [f"{baseline[name]:.4f}" if name in baseline else ""] if baseline else []
        table.add_row(name, f"{value:.4f}", *beside)
    out = stdout()
    with out:  # one buffered write
        out.print(table)
        deployment = results.get("deployment") or {}
        if deployment.get("deployment_dir"):
            out.print(f"Deployment: {deployment['deployment_dir']}")
        for alert in results.get("alerts", []):
            out.print(f"ALERT: {alert_text(alert)}")


def fail(message: str, code: int = USER_ERROR_EXIT) -> None:
    """One line on stderr and exit."""
    stderr().print(f"error: {message}")
    sys.exit(code)


def config_error_types() -> tuple[type, ...]:
    """Hydra's and OmegaConf's error classes, for those of the two that are loaded.

    An error of a library that was never imported cannot have been raised, and
    importing Hydra would cost a read-only command (``status``) a fifth of its time.
    """
    found = []
    for module, name in (("hydra.errors", "HydraException"), ("omegaconf.errors", "OmegaConfBaseException")):
        if module in sys.modules:
            found.append(getattr(sys.modules[module], name))
    return tuple(found)


@contextmanager
def reporting_errors(debug: bool = False, overrides: Sequence[str] = ()) -> Iterator[None]:
    """Turn user-facing errors into one line and exit code 2 (a traceback with ``debug``).

    ``overrides`` are the run's, for the closest-key hint of a misspelt one.
    """
    try:
        yield
    except MLOpsError as exc:
        if debug:
            raise
        fail(str(exc))
    except Exception as exc:
        if debug or not isinstance(exc, config_error_types()):
            raise
        from easy_mlops.config.compose import describe_config_error

        fail(describe_config_error(exc, overrides))
    except KeyboardInterrupt:
        fail("interrupted", 130)
