"""Our drift monitoring against Evidently's DataDriftPreset: the same rows, statistics and thresholds.

    python bench/drift.py           # 200,000 reference rows, 1,000,000 current: bench/DRIFT_RESULTS.md
    python bench/drift.py --quick   # small sizes, one run each (~1 min): does the script work?

Synthetic tables with a fixed seed: 20 numeric and 5 categorical features
and a binary target; the current table has known shifts in some features
(mean shifts from 0.05 to 1 reference standard deviation, variance changes,
new outliers, category share changes, unseen categories) and none in others.

Our side trains one deployment per numeric statistic compared (PSI and the
normalised Wasserstein distance), scores the current table with
``make-mlops-easy predict`` (which counts it on the profile's bins) and times
``make-mlops-easy status --json`` as a whole process. Evidently 0.7 runs in a
virtualenv of its own (``bench/.venv-evidently``, created on first use: a
benchmark-only dependency, and it does not import with pandas 3) on exactly
the rows our profile was made of (the training split, reproduced with the
trainer's own ``split``) and the same current rows, with the same statistic
and threshold forced for every column. Every timed command is a real process
measured by ``timing.py`` (wall time and the child's peak RSS).
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np
import pandas as pd
import timing
from timing import Measurement, median_rss_mb, median_seconds

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
EVIDENTLY_VENV = HERE / ".venv-evidently"
EVIDENTLY_PYTHON = EVIDENTLY_VENV / "bin" / "python"
EVIDENTLY_REQUIREMENTS = ("evidently==0.7.23", "pandas<3", "pyarrow")
TARGET = "y"
TEST_SIZE = 0.2
SEED = 42  # the trainer's default random_state: the split Evidently's reference must reproduce
PSI_THRESHOLD = 0.25
THRESHOLD = 0.1  # wasserstein and Jensen-Shannon
MIN_ROWS = 10  # so that `status` after 10 logged rows computes the same scores as after a million
STATISTICS = ("psi", "wasserstein")  # Evidently's "ks" is a p-value test, not our KS distance
NEAR = 1.5  # a disagreement counts as "near the threshold" when both scores are within this factor
TARGETS = {"speed": 20.0, "memory": 0.2, "overhead": 1.05}

# name: (distribution, change in the current table). Shifts are in reference standard deviations.
NUMERIC = {
    "num01": ("normal", ("none", 0)),
    "num02": ("normal_wide", ("none", 0)),
    "num03": ("lognormal", ("none", 0)),
    "num04": ("uniform", ("none", 0)),
    "num05": ("poisson", ("none", 0)),
    "num06": ("normal", ("mean", 0.05)),
    "num07": ("normal", ("mean", 0.1)),
    "num08": ("normal", ("mean", 0.2)),
    "num09": ("normal", ("mean", 0.3)),
    "num10": ("normal", ("mean", 0.5)),
    "num11": ("normal", ("mean", 1.0)),
    "num12": ("lognormal", ("mean", 0.5)),
    "num13": ("uniform", ("mean", 1.0)),
    "num14": ("normal_wide", ("mean", -0.5)),
    "num15": ("normal", ("scale", 1.5)),
    "num16": ("normal", ("scale", 0.7)),
    "num17": ("normal", ("outliers", 0.02)),
    "num18": ("normal", ("none", 0)),
    "num19": ("lognormal", ("mean", 0.2)),
    "num20": ("uniform", ("mean", 0.05)),
}
STD = {"normal": 1.0, "normal_wide": 2.0, "uniform": 10 / 12**0.5, "poisson": 30**0.5}
STD["lognormal"] = float(np.sqrt((np.exp(0.25) - 1) * np.exp(0.25)))  # sigma 0.5

# name: (categories and their reference shares, current shares or "unseen": new categories' share)
ZIPF = 1 / np.arange(1, 81) ** 0.8
CATEGORICAL = {
    "cat1": ([f"c{i:02d}" for i in range(80)], ZIPF / ZIPF.sum(), None),  # more than the top 50
    "cat2": (list("abcde"), [0.4, 0.3, 0.15, 0.1, 0.05], [0.38, 0.32, 0.15, 0.1, 0.05]),
    "cat3": (list("abcde"), [0.4, 0.25, 0.15, 0.1, 0.1], [0.3, 0.35, 0.15, 0.1, 0.1]),
    "cat4": (list("abcd"), [0.5, 0.3, 0.15, 0.05], [0.2, 0.3, 0.3, 0.2]),
    "cat5": (list("abcdef"), [1 / 6] * 6, "unseen"),
}
UNSEEN = ["new_x", "new_y", "new_z"]
UNSEEN_SHARE = 0.15

EVIDENTLY_RUN = """
import json, sys, time
started = time.perf_counter()
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
imported = time.perf_counter()
spec = json.loads(sys.argv[1])
reference = pd.read_parquet(spec["reference"], columns=spec["numeric"] + spec["categorical"])
current = pd.read_parquet(spec["current"], columns=spec["numeric"] + spec["categorical"])
read = time.perf_counter()
definition = DataDefinition(numerical_columns=spec["numeric"], categorical_columns=spec["categorical"])
preset = DataDriftPreset(
    columns=spec["numeric"] + spec["categorical"], drift_share=spec["drift_share"],
    num_method=spec["num_method"], num_threshold=spec["num_threshold"],
    cat_method="jensenshannon", cat_threshold=spec["cat_threshold"],
)
snapshot = Report([preset]).run(
    current_data=Dataset.from_pandas(current, data_definition=definition),
    reference_data=Dataset.from_pandas(reference, data_definition=definition),
)
metrics = snapshot.dict()["metrics"]
answered = time.perf_counter()
print(json.dumps({"import_s": imported - started, "read_s": read - imported, "report_s": answered - read,
                  "metrics": metrics}, default=str))
"""


@dataclass
class Sizes:
    reference_rows: int = 200_000
    current_rows: int = 1_000_000
    repeat: int = 5  # status runs and predict runs per side
    evidently_repeat: int = 3


QUICK = Sizes(reference_rows=5_000, current_rows=20_000, repeat=1, evidently_repeat=1)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


# --- data --------------------------------------------------------------------------------------------


def draw(distribution: str, rng: np.random.Generator, rows: int) -> np.ndarray:
    if distribution == "normal":
        return rng.normal(0.0, 1.0, rows)
    if distribution == "normal_wide":
        return rng.normal(5.0, 2.0, rows)
    if distribution == "lognormal":
        return rng.lognormal(0.0, 0.5, rows)
    if distribution == "uniform":
        return rng.uniform(0.0, 10.0, rows)
    return rng.poisson(30, rows).astype(np.int64)


def shifted(values: np.ndarray, distribution: str, change: tuple[str, float], rng) -> np.ndarray:
    """``values`` with the feature's known change applied; sizes are in reference standard deviations."""
    kind, size = change
    if kind == "mean":
        return values + size * STD[distribution]
    if kind == "scale":
        return values.mean() + (values - values.mean()) * size
    if kind == "outliers":  # a share of rows 5 to 8 standard deviations out, beyond the training range
        chosen = rng.random(values.size) < size
        return np.where(chosen, rng.uniform(5.0, 8.0, values.size) * STD[distribution], values)
    return values


def make_table(rows: int, seed: int, current: bool) -> pd.DataFrame:
    """The reference table (with the target) or the current one (shifted, without it)."""
    rng = np.random.default_rng(seed)
    columns = {}
    for name, (distribution, change) in NUMERIC.items():
        values = draw(distribution, rng, rows)
        columns[name] = shifted(values, distribution, change, rng) if current else values
    for name, (categories, shares, current_shares) in CATEGORICAL.items():
        if current and current_shares == "unseen":
            values = rng.choice(categories, rows, p=shares).astype(object)
            new = rng.random(rows) < UNSEEN_SHARE
            values[new] = rng.choice(UNSEEN, int(new.sum()))
        else:
            probabilities = current_shares if current and current_shares is not None else shares
            values = rng.choice(categories, rows, p=probabilities).astype(object)
        columns[name] = values
    frame = pd.DataFrame(columns)
    if not current:  # the label depends on a few features, some of which drift later
        logit = frame["num01"] + 0.8 * frame["num10"] - 0.6 * frame["num11"] + (frame["cat4"] == "a") - 0.5
        frame[TARGET] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return frame


def known_change(name: str) -> str:
    if name in NUMERIC:
        kind, size = NUMERIC[name][1]
        return {
            "none": "none",
            "mean": f"mean {size:+g} sd",
            "scale": f"sd x{size:g}",
            "outliers": f"{size:.0%} outliers at 5-8 sd",
        }[kind]
    categories, shares, current_shares = CATEGORICAL[name]
    if current_shares is None:
        return f"none ({len(categories)} categories)"
    if current_shares == "unseen":
        return f"{UNSEEN_SHARE:.0%} unseen categories"
    moved = sum(abs(a - b) for a, b in zip(shares, current_shares, strict=True)) / 2
    return f"{moved:.0%} of rows change category"


def clear_case(name: str) -> bool | None:
    """Whether a feature's change is clear-cut: True for a clear shift, False for clearly none, else None."""
    if name in NUMERIC:
        kind, size = NUMERIC[name][1]
        if kind == "none":
            return False
        return True if kind == "mean" and abs(size) >= 0.5 else None
    current_shares = CATEGORICAL[name][2]
    if current_shares is None:
        return False
    return True if current_shares == "unseen" or name == "cat4" else None


def training_split(reference: Path) -> pd.DataFrame:
    """The rows our profile is made of: the trainer's own hold-out split, with its seed and test size."""
    from easy_mlops.training.trainer import split

    train_rows, _ = split(pd.read_parquet(reference), TARGET, "classification", TEST_SIZE, SEED)
    return train_rows.drop(columns=[TARGET])


def check_split_is_profiled(train_rows: pd.DataFrame, deployment: Path) -> None:
    """The reproduced split counts exactly like the deployment's stored profile, feature by feature."""
    from easy_mlops.profiles import categorical_reference, numeric_reference

    profile = json.loads((deployment / "profile.json").read_text())["features"]
    for name, stored in profile.items():
        made = numeric_reference if name in NUMERIC else categorical_reference
        if made(train_rows[name])["counts"] != stored["counts"]:
            raise SystemExit(f"{name}: the reproduced training split does not match profile.json")


# --- the two sides -----------------------------------------------------------------------------------


def ensure_evidently() -> None:
    if not EVIDENTLY_PYTHON.exists():
        say(f"creating {EVIDENTLY_VENV.relative_to(HERE.parent)} ({', '.join(EVIDENTLY_REQUIREMENTS)})")
        subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
        subprocess.run(
            [str(EVIDENTLY_VENV / "bin" / "pip"), "install", "-q", *EVIDENTLY_REQUIREMENTS], check=True
        )


def cli(*args: object, cwd: Path, stdout: Path | None = None) -> Measurement:
    return timing.run([BIN / "make-mlops-easy", *args], cwd=cwd, stdout=stdout)


def train(work: Path, reference: Path, name: str, *overrides: str) -> Path:
    output = work / name
    cli(
        "train",
        reference,
        "--target",
        TARGET,
        "trainer=logistic_regression",  # the model is beside the point; fast to train, fast to score
        f"trainer.test_size={TEST_SIZE}",
        f"trainer.random_state={SEED}",
        f"deployment.output_dir={output}",
        f"observability.drift.psi_threshold={PSI_THRESHOLD}",
        f"observability.drift.threshold={THRESHOLD}",
        f"observability.drift.min_rows={MIN_ROWS}",
        *overrides,
        cwd=work,
    )
    [deployment] = [path for path in output.iterdir() if path.is_dir()]
    return deployment


def fresh_copy(deployment: Path, work: Path, name: str) -> Path:
    """A copy of a deployment as trained (empty logs), made before any clock starts."""
    copy = work / "copies" / name
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(deployment, copy)
    return copy


def status(deployment: Path, work: Path) -> tuple[Measurement, dict]:
    out = work / "status.json"
    measured = cli("status", deployment, "--json", cwd=work, stdout=out)
    return measured, json.loads(out.read_text())["drift"]


def evidently(spec: dict, work: Path) -> tuple[Measurement, dict]:
    out = work / "evidently.json"
    measured = timing.run([EVIDENTLY_PYTHON, "-c", EVIDENTLY_RUN, json.dumps(spec)], cwd=work, stdout=out)
    return measured, json.loads(out.read_text())


def evidently_verdicts(answer: dict) -> tuple[dict[str, dict], dict]:
    """Per column ``{stat, score, threshold, drifted}``, and the drifted-columns count."""
    columns, count = {}, {}
    for metric in answer["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            score, threshold = float(metric["value"]), float(config["threshold"])
            columns[config["column"]] = {
                "stat": config["method"],
                "score": score,
                "threshold": threshold,
                "drifted": score >= threshold,
            }
        elif config["type"].endswith("DriftedColumnsCount"):
            count = {**metric["value"], "drift_share": config["drift_share"]}
    return columns, count


# --- the run -----------------------------------------------------------------------------------------


@dataclass
class Comparison:
    stat: str
    ours: list[Measurement]
    theirs: list[Measurement]
    their_phases: list[dict]
    our_drift: dict
    their_columns: dict
    their_count: dict


def byte_compile() -> None:
    """As a wheel install would: an editable install has no .pyc files until an import writes them."""
    import compileall
    from importlib.util import find_spec

    for location in find_spec("easy_mlops").submodule_search_locations:
        compileall.compile_dir(location, quiet=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each")
    parser.add_argument("--reference-rows", type=int)
    parser.add_argument("--current-rows", type=int)
    parser.add_argument("--repeat", type=int)
    parser.add_argument("--evidently-repeat", type=int)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--keep-temp", action="store_true")
    args = parser.parse_args()
    sizes = QUICK if args.quick else Sizes()
    for option in ("reference_rows", "current_rows", "repeat", "evidently_repeat"):
        if getattr(args, option) is not None:
            setattr(sizes, option, getattr(args, option))
    output = args.output or HERE / ("DRIFT_RESULTS.quick.md" if args.quick else "DRIFT_RESULTS.md")

    ensure_evidently()
    byte_compile()
    work = Path(tempfile.mkdtemp(prefix="bench-drift-"))
    loads = [("start", load_average())]
    started = time.perf_counter()
    try:
        reference, current = work / "reference.parquet", work / "current.parquet"
        make_table(sizes.reference_rows, 1, current=False).to_parquet(reference)
        make_table(sizes.current_rows, 2, current=True).to_parquet(current)
        say(f"data: {sizes.reference_rows:,} reference rows, {sizes.current_rows:,} current rows in {work}")
        train_rows = training_split(reference)
        split_path = work / "reference-training-split.parquet"
        train_rows.to_parquet(split_path)

        deployments = {
            stat: train(work, reference, stat, f"observability.drift.numeric_stat={stat}")
            for stat in STATISTICS
        }
        drift_off = train(work, reference, "drift-off", "observability.drift.enabled=false")
        check_split_is_profiled(train_rows, deployments["psi"])
        pristine = {name: fresh_copy(path, work, f"pristine-{name}") for name, path in deployments.items()}
        loads.append(("trained", load_average()))

        comparisons = []
        for stat, deployment in deployments.items():
            say(f"{stat}: predict {sizes.current_rows:,} rows, then status and Evidently, alternating")
            cli("predict", current, deployment, "-o", work / "predictions.json", cwd=work)
            spec = {
                "reference": str(split_path),
                "current": str(current),
                "numeric": list(NUMERIC),
                "categorical": list(CATEGORICAL),
                "num_method": stat,
                "num_threshold": PSI_THRESHOLD if stat == "psi" else THRESHOLD,
                "cat_threshold": THRESHOLD,
                "drift_share": 0.5,
            }
            status(deployment, work)  # warm-up: the page cache, and the first .pyc reads
            ours, theirs, phases = [], [], []
            for round_number in range(max(sizes.repeat, sizes.evidently_repeat)):
                if round_number < sizes.repeat:
                    measured, our_drift = status(deployment, work)
                    ours.append(measured)
                if round_number < sizes.evidently_repeat:
                    measured, answer = evidently(spec, work)
                    theirs.append(measured)
                    phases.append({key: answer[key] for key in ("import_s", "read_s", "report_s")})
                    say(f"  round {round_number + 1}: Evidently {measured.seconds:.1f} s")
            columns, count = evidently_verdicts(answer)
            comparisons.append(Comparison(stat, ours, theirs, phases, our_drift, columns, count))
            say(f"  ours {median_seconds(ours):.2f} s, Evidently {median_seconds(theirs):.2f} s")
        loads.append(("compared", load_average()))

        say("status after 10 logged rows")
        few = pristine["psi"]
        head = work / "head.parquet"
        pd.read_parquet(current).head(10).to_parquet(head)
        cli("predict", head, few, "-o", work / "few.json", cwd=work)
        status(few, work)
        after_few = [status(few, work)[0] for _ in range(sizes.repeat)]

        say(f"predict {sizes.current_rows:,} rows: drift step on vs off, alternating")

        def predicting(deployment: Path, name: str):
            def side() -> Measurement:
                copy = fresh_copy(deployment, work, name)
                return cli("predict", current, copy, "-o", work / f"{name}.json", cwd=work)

            return side

        overhead = timing.alternate(
            [("drift on", predicting(pristine["psi"], "on")), ("drift off", predicting(drift_off, "off"))],
            sizes.repeat,
            warmup=1,
            progress=say,
        )
        loads.append(("end", load_average()))
        elapsed = time.perf_counter() - started
        report = write_results(
            output, sizes, args.quick, comparisons, comparisons[0].ours, after_few, overhead, loads, elapsed
        )
    finally:
        if args.keep_temp:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    say("\n" + report)
    say(f"wrote {output}")
    return 0


# --- the report --------------------------------------------------------------------------------------


def verdict(drifted: bool) -> str:
    return "drift" if drifted else "-"


def near_threshold(score: float, threshold: float) -> bool:
    """Within a factor of ``NEAR`` either side of the threshold: where binning alone can flip a verdict."""
    return threshold / NEAR <= score <= threshold * NEAR


def agreement_table(comparison: Comparison) -> tuple[list[str], list[str]]:
    """The per-feature table, and the lines of the features whose verdicts differ."""
    ours = comparison.our_drift["features"]
    lines = [
        "| feature | known change | case | our score | ours | Evidently's score | Evidently | agree |",
        "|---|---|---|---|---|---|---|---|",
    ]
    disagreements = []
    for name in [*NUMERIC, *CATEGORICAL]:
        mine, theirs = ours[name], comparison.their_columns[name]
        agree = mine["drifted"] == theirs["drifted"]
        case = {True: "clear shift", False: "no shift", None: "small"}[clear_case(name)]
        lines.append(
            f"| {name} | {known_change(name)} | {case} | {mine['score']:.4f} | {verdict(mine['drifted'])} "
            f"| {theirs['score']:.4f} | {verdict(theirs['drifted'])} | {'yes' if agree else '**no**'} |"
        )
        if not agree:
            threshold = mine["applied_threshold"]
            near = near_threshold(mine["score"], threshold) and near_threshold(theirs["score"], threshold)
            disagreements.append(
                f"- {name} ({known_change(name)}, {case}; {mine['stat']}, threshold {threshold:g}): "
                f"ours {mine['score']:.4f}, Evidently {theirs['score']:.4f}: "
                + ("both near the threshold" if near else "**not** near the threshold")
            )
    return lines, disagreements


def sampling_note(drift: dict) -> str:
    """Where ours applied more than the configured threshold: what sampling alone gives at these rows."""
    raised = [
        f"{name} {verdict['applied_threshold']:.4g}"
        for name, verdict in [*drift["features"].items(), ("predictions", drift.get("prediction", {}))]
        if verdict and verdict["applied_threshold"] > verdict["threshold"]
    ]
    return (
        f"Ours also asks each score to pass what sampling alone gives at these row counts "
        f"(significance {drift['significance']:g}): "
        + (
            f"thresholds raised for {', '.join(raised)}."
            if raised
            else "no threshold raised above the configured one."
        )
    )


def versions() -> str:
    ours = ", ".join(
        f"{name} {importlib_metadata.version(name)}"
        for name in ("make-mlops-easy", "scikit-learn", "pandas", "numpy", "pyarrow")
    )
    query = (
        "import importlib.metadata as m, platform; print(', '.join(f'{p} {m.version(p)}' for p in "
        "('evidently', 'pandas', 'numpy', 'scipy', 'pyarrow')) + ', Python ' + platform.python_version())"
    )
    theirs = subprocess.run(
        [str(EVIDENTLY_PYTHON), "-c", query], capture_output=True, text=True, check=True
    ).stdout.strip()
    return f"- ours: {ours}, Python {platform.python_version()}\n- Evidently's virtualenv: {theirs}"


def write_results(
    output: Path,
    sizes: Sizes,
    quick: bool,
    comparisons: list[Comparison],
    after_million: list[Measurement],
    after_few: list[Measurement],
    overhead: dict[str, list[Measurement]],
    loads: list[tuple[str, str]],
    elapsed: float,
) -> str:
    lines = [
        "# Drift monitoring: make-mlops-easy status vs Evidently's DataDriftPreset",
        "",
        f"Written by `python bench/drift.py{' --quick' if quick else ''}` on {platform.node()} "
        f"({os.cpu_count()} cores) in {elapsed / 60:.1f} min: {sizes.reference_rows:,} reference rows "
        f"({1 - TEST_SIZE:.0%} of them the training split both sides compare against), "
        f"{sizes.current_rows:,} current rows; medians of {sizes.repeat} `status` run(s) and "
        f"{sizes.evidently_repeat} Evidently run(s), alternating, after one `status` warm-up.",
        "",
        "Load average (1, 5, 15 min): " + "; ".join(f"{stage} {value}" for stage, value in loads) + ".",
        "",
        versions(),
        "",
        "## Time and memory to a drift answer",
        "",
        "Ours: `make-mlops-easy status DEPLOYMENT --json`, the whole process (interpreter start, imports, "
        "checksums, the predictions summary and the drift report), after the current rows were scored with "
        "`predict`. Evidently: a process that imports it, reads both parquet files and runs the report; "
        "its phases are timed inside it. Peak memory is the peak RSS of each whole process.",
        "",
        "| statistic | ours s | Evidently report s | Evidently read + report s | Evidently process s "
        "| speed-up (report / read + report / process) | ours MiB | Evidently MiB | memory ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for comparison in comparisons:
        ours = median_seconds(comparison.ours)
        report = timing.median([phase["report_s"] for phase in comparison.their_phases])
        read_report = timing.median(
            [phase["read_s"] + phase["report_s"] for phase in comparison.their_phases]
        )
        process = median_seconds(comparison.theirs)
        memory = median_rss_mb(comparison.ours) / median_rss_mb(comparison.theirs)
        lines.append(
            f"| {comparison.stat} | {ours:.2f} | {report:.2f} | {read_report:.2f} | {process:.2f} "
            f"| {report / ours:.1f}x / {read_report / ours:.1f}x / {process / ours:.1f}x "
            f"| {median_rss_mb(comparison.ours):.0f} | {median_rss_mb(comparison.theirs):.0f} "
            f"| {memory:.3f} |"
        )
        verdicts.append((comparison.stat, report / ours, memory))
    lines += [
        "",
        f"Targets: ours at least {TARGETS['speed']:g}x faster than Evidently's report alone (the strictest "
        f"of the three), and at most {TARGETS['memory']:g}x its peak memory.",
        "",
    ]
    for stat, speed, memory in verdicts:
        lines.append(
            f"- {stat}: {speed:.1f}x faster ({'met' if speed >= TARGETS['speed'] else 'MISSED'}), "
            f"{memory:.3f}x the memory ({'met' if memory <= TARGETS['memory'] else 'MISSED'})"
        )
    few, many = median_seconds(after_few), median_seconds(after_million)
    on, off = median_seconds(overhead["drift on"]), median_seconds(overhead["drift off"])
    lines += [
        "",
        f"`status` (PSI deployment) after 10 logged rows: {few:.2f} s, {median_rss_mb(after_few):.0f} MiB; "
        f"after {sizes.current_rows:,}: {many:.2f} s, {median_rss_mb(after_million):.0f} MiB "
        f"(ratio {many / few:.2f}; the rest of `status` reads the predictions log too).",
        "",
        "## Cost of counting in predict",
        "",
        f"`make-mlops-easy predict` of the {sizes.current_rows:,} current rows on fresh copies of two "
        "deployments identical except `observability.drift.enabled=false`, alternating, one warm-up "
        "round, medians:",
        "",
        "| drift step | median s | runs s | peak RSS MiB |",
        "|---|---|---|---|",
    ]
    for name, runs in overhead.items():
        lines.append(
            f"| {name.split()[1]} | {median_seconds(runs):.2f} "
            f"| {', '.join(f'{m.seconds:.2f}' for m in runs)} | {median_rss_mb(runs):.0f} |"
        )
    lines += [
        "",
        f"Ratio on/off: {on / off:.3f} (target at most {TARGETS['overhead']:g}: "
        f"{'met' if on / off <= TARGETS['overhead'] else 'MISSED'}).",
    ]
    for comparison in comparisons:
        table, disagreements = agreement_table(comparison)
        ours, count = comparison.our_drift, comparison.their_count
        prediction = ours.get("prediction", {})
        threshold = PSI_THRESHOLD if comparison.stat == "psi" else THRESHOLD
        lines += [
            "",
            f"## Agreement: numeric {comparison.stat} (threshold {threshold:g}), categorical Jensen-Shannon "
            f"({THRESHOLD:g})",
            "",
            'Case: the known change, where "clear shift" is a mean shift of at least 0.5 sd, unseen '
            'categories or a large share change, and "small" anything between that and no change. A '
            f"disagreement is near the threshold when both scores lie within a factor {NEAR:g} of it.",
            "",
            *table,
            "",
            f"Dataset drift (drift share 0.5): ours {ours['dataset_drift']} ({ours['share_drifted']:.2f} of "
            f"features drifted), Evidently {count['share'] >= count['drift_share']} ({count['share']:.2f}, "
            f"{count['count']:.0f} columns).",
            "",
            f"Prediction drift (ours only: Evidently's preset sees no model): {prediction.get('stat')} "
            f"{prediction.get('score', float('nan')):.4f}, threshold {prediction.get('applied_threshold')}, "
            f"{'drifted' if prediction.get('drifted') else 'not drifted'}.",
            "",
            sampling_note(ours),
            "",
            "Disagreements:" if disagreements else "No disagreements.",
            *disagreements,
        ]
    lines += [
        "",
        "Why scores differ:",
        "",
        "- PSI: ours merges the profile's ~100 quantile bins into the reference's deciles; Evidently's bins "
        "are Sturges bins of equal width over both samples together, so scores differ and verdicts near the "
        "threshold can too. Values beyond the training range are a group of their own in ours, with "
        "almost no reference mass; Evidently's range covers both samples, so a few far outliers (num17) "
        "squeeze the reference into one or two of its bins.",
        "- Wasserstein: ours is computed on the binned distributions within the training range (bin "
        "midpoints) plus the exact mean distance of the values beyond it; Evidently's on the raw values.",
        "- Jensen-Shannon: ours puts categories outside the top 50 and unseen ones into one 'other' entry, "
        "Evidently keeps each; with more than 50 categories (cat1), ours picks the top 50 on half the "
        "training split and counts on the other half, Evidently counts on all of it.",
    ]
    text = "\n".join(lines) + "\n"
    output.write_text(text)
    return text


if __name__ == "__main__":
    sys.exit(main())
