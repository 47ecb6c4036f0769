"""Run a command as a real process and measure it: wall time and the command's peak RSS.

Each command is started by a small runner process (this file, run as a
script), which times it and reaps it with ``os.wait4``: the rusage of that one
child (on Linux ``ru_maxrss`` is in KiB and covers the child and the
descendants it waited for). The runner is there because Linux records the
high-water RSS of the *forking* process's memory into the child's ``ru_maxrss``
at ``exec``: measured straight from the orchestrator, which holds generated
data, every figure would be at least the orchestrator's own peak. The
runner's own footprint (a bare interpreter) is the floor instead.

    python bench/timing.py CMD [ARG ...]    # time one command
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


class CommandFailed(RuntimeError):
    """A measured command exited with a non-zero status."""


@dataclass
class Measurement:
    seconds: float
    max_rss_kb: int
    returncode: int
    stderr: str = field(default="", repr=False)

    @property
    def max_rss_mb(self) -> float:
        return self.max_rss_kb / 1024


def run(
    cmd: Sequence[str | os.PathLike],
    cwd: str | os.PathLike | None = None,
    stdout: str | os.PathLike | None = None,
    check: bool = True,
    keep_stderr: bool = False,
) -> Measurement:
    """Run ``cmd`` to completion; ``stdout`` goes to that file (or /dev/null), stderr is captured.

    The clock starts just before the command's process is created and stops
    once it is reaped, so interpreter start-up, imports and exit are included.
    """
    argv = [str(part) for part in cmd]
    handle, report_name = tempfile.mkstemp(prefix="measurement-", suffix=".json")
    os.close(handle)
    report = Path(report_name)
    try:
        with open(stdout if stdout is not None else os.devnull, "wb") as out, tempfile.TemporaryFile() as err:
            runner = [sys.executable, "-I", str(RUNNER), "--report", str(report), *argv]
            subprocess.run(runner, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, check=False)
            err.seek(0)
            stderr = err.read().decode("utf-8", errors="replace")
        try:
            measured = json.loads(report.read_text())
        except ValueError as exc:
            raise CommandFailed(f"could not start: {' '.join(argv)}\n{stderr.strip()}") from exc
    finally:
        report.unlink(missing_ok=True)
    if check and measured["returncode"] != 0:
        tail = "\n".join(stderr.strip().splitlines()[-20:])
        raise CommandFailed(f"exit {measured['returncode']}: {' '.join(argv)}\n{tail}")
    return Measurement(
        measured["seconds"], measured["max_rss_kb"], measured["returncode"], stderr if keep_stderr else ""
    )


def measure_child(argv: Sequence[str]) -> dict[str, float | int]:
    """In the runner: start ``argv`` with this process's stdio, cwd and environment; time and reap it."""
    start = time.perf_counter()
    process = subprocess.Popen(list(argv))
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return {"seconds": seconds, "max_rss_kb": int(usage.ru_maxrss), "returncode": process.returncode}


def alternate(
    sides: Sequence[tuple[str, Callable[[], Measurement]]],
    repeat: int,
    warmup: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, list[Measurement]]:
    """Run the sides in turn (A, B, A, B, ... or A, B, C, A, B, C, ...), ``repeat`` times each.

    Each side is a callable that does its own untimed set-up and returns the
    measurement of its timed command. ``warmup`` rounds run first and are
    discarded.
    """
    say = progress or (lambda message: None)
    for round_number in range(warmup):
        for name, side in sides:
            measurement = side()
            say(f"  warm-up {round_number + 1}: {name}: {measurement.seconds:.2f} s")
    results: dict[str, list[Measurement]] = {name: [] for name, _ in sides}
    for round_number in range(repeat):
        for name, side in sides:
            measurement = side()
            results[name].append(measurement)
            say(
                f"  run {round_number + 1}/{repeat}: {name}: {measurement.seconds:.2f} s, "
                f"peak RSS {measurement.max_rss_mb:.0f} MiB"
            )
    return results


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def median_seconds(measurements: Sequence[Measurement]) -> float:
    return median([m.seconds for m in measurements])


def median_rss_mb(measurements: Sequence[Measurement]) -> float:
    return median([m.max_rss_mb for m in measurements])


def runner_main(args: list[str]) -> int:
    if args[:1] == ["--report"]:
        report, argv = Path(args[1]), args[2:]
        measured = measure_child(argv)
        report.write_text(json.dumps(measured))
    else:
        measured = measure_child(args)
        print(
            f"{measured['seconds']:.3f} s, peak RSS {measured['max_rss_kb'] / 1024:.1f} MiB, "
            f"exit {measured['returncode']}",
            file=sys.stderr,
        )
    code = int(measured["returncode"])
    return code if code >= 0 else 128 - code


RUNNER = Path(__file__).resolve()

if __name__ == "__main__":
    sys.exit(runner_main(sys.argv[1:]))
