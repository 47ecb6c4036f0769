"""Read-only commands load only what their work needs: not pandas, scikit-learn or Hydra.

Each command runs in a fresh interpreter (as the console script does); what
it imported is read from ``sys.modules`` when it ends.
"""

import json
import subprocess
import sys

import pytest

from easy_mlops.pipeline import run_experiment

HEAVY = ("pandas", "sklearn", "scipy", "hydra", "joblib", "pyarrow")
RUN_AND_LIST_MODULES = """
import json, sys
from easy_mlops.cli.main import main
sys.argv = ["make-mlops-easy", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exc:
    code = exc.code
print("\\nMODULES " + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def loaded_by(*args: str, cwd) -> tuple[int, set[str]]:
    """The exit code of ``make-mlops-easy ARGS`` and the modules it imported."""
    result = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_MODULES, json.dumps(args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(result.stdout.rsplit("MODULES ", 1)[1])
    return report["code"], set(report["modules"])


def packages(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


@pytest.fixture
def deployed(compose, classification_csv, models_dir, tmp_path):
    deployment = (
        models_dir
        / run_experiment(compose("data=csv", f"data.path={classification_csv}"))["deployment"][
            "deployment_name"
        ]
    )
    from easy_mlops.inference import predict_file

    predict_file(classification_csv, deployment)  # logs to read: predictions, drift counts
    return deployment


# Beyond the heavy libraries, what each command's work does not need either: reading the logs'
# counts (list) needs neither numpy nor YAML (only the monitor of status is configured from the
# snapshot, and its plain YAML needs no OmegaConf), and JSON output needs no rich.
NOT_NEEDED = {
    "status --json": {"omegaconf", "rich"},
    "status latest --json": {"omegaconf", "rich"},
    "status": {"omegaconf"},
    "list": {"numpy", "omegaconf", "yaml"},
    "list --json": {"numpy", "omegaconf", "yaml", "rich"},
}


@pytest.mark.parametrize(
    "args",
    [
        ("status", "{deployment}", "--json"),
        ("status", "latest", "--json"),
        ("status", "{deployment}"),
        ("list", "{models}"),
        ("list", "--json", "{models}"),
    ],
    ids=list(NOT_NEEDED),
)
def test_read_only_commands_load_only_what_their_work_needs(args, deployed, models_dir, request):
    words = [word.format(deployment=deployed, models=models_dir) for word in args]
    code, modules = loaded_by(*words, cwd=models_dir.parent)  # `latest`: the newest under ./models
    modules = packages(modules)
    assert code == 0
    unneeded = set(HEAVY) | NOT_NEEDED[request.node.callspec.id]
    assert not modules & unneeded, sorted(modules & unneeded)


@pytest.mark.parametrize("log", [True, False], ids=["logging", "no-log"])
def test_predict_loads_the_model_libraries_not_the_config_machinery(
    log, deployed, tmp_path, classification_csv
):
    """predict needs pandas and scikit-learn (the same check finds them), never OmegaConf nor Hydra:
    unpickling the preprocessor imports neither, and the monitor it logs through is built from the
    snapshot's plain YAML; without logging nothing reads the snapshot at all."""
    options = [] if log else ["--no-log"]
    code, modules = loaded_by("predict", str(classification_csv), str(deployed), *options, cwd=tmp_path)
    modules = packages(modules)
    assert code == 0 and {"pandas", "sklearn"} <= modules
    unneeded = {"omegaconf", "hydra"} | (set() if log else {"yaml"})
    assert not unneeded & modules, sorted(unneeded & modules)


def test_training_again_with_the_same_config_does_not_compose_it_again(tmp_path, classification_csv):
    """The second ``train`` reads the kept composition, and builds its estimator and transformers
    without Hydra: Hydra is not even imported, and the config it trains with is the same."""
    words = ("train", str(classification_csv), "trainer=logistic_regression", "deployment.output_dir=models")
    (first_code, first), (second_code, second) = [loaded_by(*words, cwd=tmp_path) for _ in range(2)]
    assert first_code == second_code == 0
    assert "hydra._internal.core_plugins" in first  # the first composed: Hydra discovered its plugins
    assert "hydra" not in packages(second), sorted(name for name in second if name.startswith("hydra"))
    snapshots = {path.read_text() for path in (tmp_path / "models").glob("*/config.yaml")}
    assert len(list((tmp_path / "models").glob("*/config.yaml"))) == 2 and len(snapshots) == 1


def test_sweeps_show_does_not_load_hydra(tmp_path):
    from easy_mlops.sweeps.board import rank, write_summary

    rows = [
        {"job": 0, "overrides": "trainer=mlp", "status": "ok", "metrics": {"accuracy": 0.9}},
        {"job": 1, "overrides": "trainer=random_forest", "status": "ok", "metrics": {"accuracy": 0.95}},
    ]
    write_summary(tmp_path, rank(rows, None, None))
    code, modules = loaded_by("sweeps", "show", str(tmp_path), cwd=tmp_path)
    modules = packages(modules)
    assert code == 0
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
