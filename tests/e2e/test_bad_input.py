"""Bad input, as a user meets it through ``make-mlops-easy`` and ``python -m easy_mlops.run``.

The contract: every bad data file, config value, config file or deployment
gives exactly one line on stderr naming the problem (the file, the column or
the config key), exit code 2 and no traceback (unless ``--debug``). A failed
``train`` leaves no deployment behind (no directory under the models dir, no
hidden ``.partial`` staging dir, nothing written outside it) and loses nothing
that was stored before.
"""

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from helpers import (
    CLI,
    assert_nothing_deployed,
    assert_one_line_error,
    deployments,
    make_classification_frame,
    run_process,
)

# --------------------------------------------------------------------------- helpers


def entries(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


def assert_nothing_new_outside(tmp_path: Path, before: set[str], allowed: set[str] = frozenset()) -> None:
    """Only ``models`` (and ``allowed``, e.g. Hydra's ``outputs``) may have appeared in ``tmp_path``."""
    new = entries(tmp_path) - before - {"models"} - set(allowed)
    assert not new, f"written outside the models dir: {sorted(new)}"


def tree_digest(directory: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file below ``directory``."""
    return {
        path.relative_to(directory).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def write_frame(path: Path, frame) -> Path:
    frame.to_csv(path, index=False)
    return path


# --------------------------------------------------------------------------- bad data files
#
# Each case makes its input under tmp_path and returns (train arguments, names the
# error line must contain).

DataCase = Callable[[Path], tuple[list[str], list[str]]]


def missing_file(tmp: Path):
    return [str(tmp / "absent.csv")], ["absent.csv"]


def directory_as_file(tmp: Path):
    (tmp / "folder.csv").mkdir()
    return [str(tmp / "folder.csv")], ["folder.csv"]


def empty_file(tmp: Path):
    (tmp / "empty.csv").write_bytes(b"")
    return [str(tmp / "empty.csv")], ["empty.csv"]


def header_only(tmp: Path):
    (tmp / "header_only.csv").write_text("x1,x2,churn\n")
    return [str(tmp / "header_only.csv")], ["header_only.csv"]


def unknown_extension(tmp: Path):
    (tmp / "table.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    return [str(tmp / "table.xlsx")], ["table.xlsx", ".xlsx"]


def malformed_json(tmp: Path):
    (tmp / "broken.json").write_text('[{"x1": 1.0, "churn": "yes"}, {"x1": 2.0, "churn": ')
    return [str(tmp / "broken.json")], ["broken.json"]


def not_utf8(tmp: Path):
    (tmp / "latin.csv").write_bytes(b"a,b\n\xff\xfe,1\n")
    return [str(tmp / "latin.csv")], ["latin.csv"]


def duplicate_columns(tmp: Path):
    rows = "\n".join(f"{i},{i * 2},{i * 3},{'yes' if i % 2 else 'no'}" for i in range(40))
    (tmp / "dups.csv").write_text("x1,dup_col,dup_col,churn\n" + rows + "\n")
    return [str(tmp / "dups.csv")], ["dups.csv", "dup_col"]


def only_empty_feature_columns(tmp: Path):
    """One empty column is left out with a warning; with nothing else left, the file is refused."""
    frame = make_classification_frame()[["churn"]]
    frame.insert(0, "blank_col", np.nan)
    return [str(write_frame(tmp / "blank.csv", frame))], ["no feature column left", "blank_col (no values)"]


def target_with_missing_values(tmp: Path):
    frame = make_classification_frame()
    frame.loc[frame.index[::10], "churn"] = None
    return [str(write_frame(tmp / "holes.csv", frame))], ["churn"]


def missing_target_column(tmp: Path):
    path = write_frame(tmp / "churn.csv", make_classification_frame())
    return [str(path), "--target", "nope"], ["nope"]


def single_numeric_class_forced(tmp: Path):
    frame = make_classification_frame().drop(columns=["churn"])
    frame["label"] = 1
    path = write_frame(tmp / "one_label.csv", frame)
    return [str(path), "trainer.problem_type=classification"], ["label"]


def single_text_class(tmp: Path):
    frame = make_classification_frame()
    frame["churn"] = "yes"
    return [str(write_frame(tmp / "all_yes.csv", frame))], ["churn"]


DATA_CASES = [
    missing_file,
    directory_as_file,
    empty_file,
    header_only,
    unknown_extension,
    malformed_json,
    not_utf8,
    duplicate_columns,
    only_empty_feature_columns,
    target_with_missing_values,
    missing_target_column,
    single_numeric_class_forced,
    single_text_class,
]


@pytest.mark.parametrize("make_case", DATA_CASES, ids=[case.__name__ for case in DATA_CASES])
def test_bad_data_file_is_one_line_and_deploys_nothing(make_case: DataCase, cli, tmp_path, models_dir):
    args, names = make_case(tmp_path)
    before = entries(tmp_path)
    result = cli("train", *args)
    assert_one_line_error(result, *names)
    assert_nothing_deployed(models_dir)
    assert_nothing_new_outside(tmp_path, before)


def test_unreadable_data_file(cli, classification_csv, models_dir):
    if os.geteuid() == 0:
        pytest.skip("root reads a file whatever its mode (the directory case covers unreadable paths)")
    classification_csv.chmod(0)
    try:
        result = cli("train", classification_csv)
    finally:
        classification_csv.chmod(0o644)
    assert_one_line_error(result, classification_csv.name)
    assert_nothing_deployed(models_dir)


# --------------------------------------------------------------------------- bad overrides


@pytest.mark.parametrize(
    ("module", "source", "cause"),
    [
        ("half_written_step", 'x = "unterminated\n', "SyntaxError: unterminated string literal"),
        ("needs_a_library", "import no_such_library\n", "No module named 'no_such_library'"),
        ("needs_a_token", "raise RuntimeError('set TEAM_TOKEN')\n", "RuntimeError: set TEAM_TOKEN"),
        ("never_written", None, "No module named 'never_written'"),
    ],
)
def test_a_target_that_cannot_be_imported_says_why(
    module, source, cause, cli, classification_csv, tmp_path, monkeypatch, models_dir
):
    if source is not None:
        (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    target = f"+observability.steps.mine._target_={module}.Mine"
    result = cli("train", classification_csv, target, f"trusted_modules=[{module}]")
    message = assert_one_line_error(
        result, "observability.steps.mine", f"cannot import _target_ '{module}.Mine'"
    )
    assert cause in message
    if source is not None and source.startswith("x ="):
        assert f"({module}.py, line 1)" in message
    assert_nothing_deployed(models_dir)


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        pytest.param(
            ["trainer.model._target_=sklearn.ensemble.NoSuchModel"],
            ["sklearn.ensemble.NoSuchModel", "trainer.model"],
            id="unknown-target",
        ),
        pytest.param(
            ["+deployment.steps.evil._target_=os.system", "+deployment.steps.evil.command='touch pwned'"],
            ["os.system", "deployment.steps.evil", "trusted"],
            id="untrusted-target",
        ),
        pytest.param(
            ["+trainer.model.n_estimatorz=5"], ["trainer.model", "n_estimatorz"], id="unknown-argument"
        ),
        pytest.param(["observability.alert_treshold=0.9"], ["alert_treshold"], id="misspelt-key"),
        pytest.param(["trainer.test_size=abc"], ["trainer.test_size", "abc"], id="wrong-type"),
        pytest.param(
            ["trainer=nope"], ["nope", "random_forest", "hist_gradient_boosting"], id="unknown-preset"
        ),
        pytest.param(
            ["deployment.steps.save_model.filename=${team.model_name}"],
            ["deployment.steps.save_model.filename", "team.model_name"],
            id="dangling-interpolation",
        ),
        pytest.param(
            ["deployment.output_dir=models[old]"],
            ["cannot parse the override 'deployment.output_dir=models[old]'", """'key="value"'"""],
            id="unquoted-brackets",
        ),
    ],
)
def test_bad_override_is_one_line_and_deploys_nothing(
    overrides, names, cli, classification_csv, tmp_path, models_dir
):
    before = entries(tmp_path)
    result = cli("train", classification_csv, *overrides)
    message = assert_one_line_error(result, *names)
    assert "base_trainer" not in message  # schema entries are not presets
    assert_nothing_deployed(models_dir)
    assert_nothing_new_outside(tmp_path, before)
    assert not (tmp_path / "pwned").exists()  # the untrusted target never ran


@pytest.mark.parametrize(
    ("override", "names"),
    [
        pytest.param(
            "deployment.steps.save_model.filename=../x.joblib",
            ["deployment.steps.save_model.filename", "../x.joblib"],
            id="model-filename-dotdot",
        ),
        pytest.param(
            "deployment.metadata_filename=a/b.json",
            ["metadata_filename", "a/b.json"],
            id="metadata-filename-slash",
        ),
        pytest.param(
            "deployment.deployment_prefix=../up",
            ["deployment.deployment_prefix", "../up"],
            id="prefix-dotdot",
        ),
    ],
)
def test_filename_with_path_separator_is_refused(
    override, names, cli, classification_csv, tmp_path, models_dir
):
    before = entries(tmp_path)
    result = cli("train", classification_csv, override)
    assert_one_line_error(result, *names)
    assert_nothing_deployed(models_dir)
    assert_nothing_new_outside(tmp_path, before)
    for place in (tmp_path, models_dir, tmp_path.parent):
        assert not (place / "x.joblib").exists(), place
        if place.exists():
            assert not [p.name for p in place.iterdir() if p.name.startswith(("up_", ".up_"))], place


# --------------------------------------------------------------------------- the Hydra app


@pytest.mark.parametrize(
    ("make_overrides", "names"),
    [
        pytest.param(
            lambda tmp: ["data=csv", f"data.path={tmp / 'absent.csv'}"],
            ["absent.csv"],
            id="missing-data-file",
        ),
        pytest.param(
            lambda tmp: ["trainer=nope"],
            ["nope", "random_forest", "hist_gradient_boosting"],
            id="unknown-preset",
        ),
        pytest.param(
            lambda tmp: ["data=wine", "+deployment.upload.storage_options.key=${team_id}"],
            ["deployment.upload.storage_options.key", "team_id"],
            id="dangling-interpolation",
        ),
        pytest.param(
            lambda tmp: ["data=wine", "trainer.model.n_estimators==5"],
            ["cannot parse the override 'trainer.model.n_estimators==5'"],
            id="unparsable-override",
        ),
    ],
)
def test_hydra_app_bad_input_is_one_line(make_overrides, names, hydra_app, tmp_path, models_dir):
    before = entries(tmp_path)
    result = hydra_app(*make_overrides(tmp_path))
    assert_one_line_error(result, *names)
    assert_nothing_deployed(models_dir)
    assert_nothing_new_outside(tmp_path, before, allowed={"outputs"})


# --------------------------------------------------------------------------- bad -c config files


@pytest.mark.parametrize(
    ("filename", "text", "names"),
    [
        pytest.param("unclosed.yaml", "deployment: [unclosed\n", ["unclosed.yaml"], id="not-yaml"),
        pytest.param(
            "typo.yaml",
            "deployment: {output_dirr: x}\n",
            ["typo.yaml", "deployment.output_dirr"],
            id="unknown-key",
        ),
        pytest.param(
            "steps.yaml",
            "deployment:\n  steps: [create_directory, save_modle, save_metadata]\n",
            ["steps.yaml", "save_modle"],
            id="unknown-step",
        ),
    ],
)
def test_bad_config_file_is_one_line(filename, text, names, cli, classification_csv, tmp_path, models_dir):
    (tmp_path / filename).write_text(text)
    before = entries(tmp_path)
    result = cli("train", classification_csv, "-c", tmp_path / filename)
    message = assert_one_line_error(result, *names)
    assert "deployment.deployment." not in message  # the key as the user wrote it, section named once
    assert_nothing_deployed(models_dir)
    assert_nothing_new_outside(tmp_path, before)
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------- nothing stored is lost


def test_failed_train_keeps_the_existing_deployment(cli, classification_csv, tmp_path, models_dir):
    first = cli("train", classification_csv)
    assert first.returncode == 0, first.stderr
    [deployment] = deployments(models_dir)
    stored = tree_digest(deployment)
    assert "model.joblib" in stored and "metadata.json" in stored

    # Fails inside the deployment steps, after training: the model cannot be
    # written over the staging directory's logs/ folder.
    result = cli("train", classification_csv, "deployment.steps.save_model.filename=logs")
    assert_one_line_error(result, "save_model")

    assert deployments(models_dir) == [deployment]
    assert entries(models_dir) == {deployment.name}  # no reservation, no .partial
    assert tree_digest(deployment) == stored


# --------------------------------------------------------------------------- broken deployments


@pytest.fixture(scope="module")
def trained_deployment(tmp_path_factory) -> Path:
    """One real deployment per worker; tests damage copies of it, never the original."""
    workdir = tmp_path_factory.mktemp("trained")
    data = write_frame(workdir / "churn.csv", make_classification_frame())
    result = run_process([CLI, "train", str(data)], workdir)
    assert result.returncode == 0, result.stderr
    [deployment] = deployments(workdir / "models")
    return deployment


def truncate(name: str) -> Callable[[Path], None]:
    def damage(directory: Path) -> None:
        (directory / name).write_bytes(b"")

    return damage


def metadata_cut_in_half(directory: Path) -> None:
    path = directory / "metadata.json"
    text = path.read_text()
    path.write_text(text[: len(text) // 2])


def metadata_not_json(directory: Path) -> None:
    (directory / "metadata.json").write_text("this is { not json\n")


@pytest.mark.parametrize(
    ("damage", "names"),
    [
        pytest.param(metadata_cut_in_half, ["metadata.json"], id="metadata-truncated"),
        pytest.param(metadata_not_json, ["metadata.json"], id="metadata-not-json"),
        pytest.param(truncate("model.joblib"), ["model.joblib"], id="model-empty"),
        pytest.param(truncate("preprocessor.joblib"), ["preprocessor.joblib"], id="preprocessor-empty"),
    ],
)
def test_damaged_deployment_is_refused(damage, names, trained_deployment, cli, classification_csv, tmp_path):
    copy = tmp_path / "damaged"
    shutil.copytree(trained_deployment, copy)
    damage(copy)
    result = cli("predict", classification_csv, copy)
    assert_one_line_error(result, *names)
    assert result.stdout.strip() == ""  # no predictions from a refused deployment


@pytest.mark.parametrize(
    ("text", "problem"),
    [("observability: [unclosed\n", "not valid YAML at line 2"), ("- a list\n", "not a mapping")],
    ids=["not-yaml", "not-a-mapping"],
)
def test_unreadable_snapshot_read_without_verifying_is_one_line(
    text, problem, trained_deployment, cli, tmp_path
):
    """``status --skip-verify`` reads config.yaml without its checksum: damage is still one line."""
    copy = tmp_path / "damaged"
    shutil.copytree(trained_deployment, copy)
    (copy / "config.yaml").write_text(text)
    result = cli("status", copy, "--skip-verify")
    assert_one_line_error(result, "config.yaml")
    assert problem in result.stderr


def test_intact_copy_predicts(trained_deployment, cli, classification_csv, tmp_path):
    """The control for the damaged copies: an undamaged copy works."""
    copy = tmp_path / "intact"
    shutil.copytree(trained_deployment, copy)
    result = cli("predict", classification_csv, copy)
    assert result.returncode == 0, result.stderr
    assert '"predictions"' in result.stdout


@pytest.mark.parametrize("kind", ["empty-directory", "nonexistent"])
def test_predict_with_a_directory_that_is_not_a_deployment(kind, cli, classification_csv, tmp_path):
    target = tmp_path / ("empty_dir" if kind == "empty-directory" else "no_such_deployment")
    if kind == "empty-directory":
        target.mkdir()
    result = cli("predict", classification_csv, target)
    assert_one_line_error(result, target.name)
    if kind == "empty-directory":
        assert list(target.iterdir()) == []  # nothing written into it
    else:
        assert not target.exists()


def test_predict_data_missing_a_feature_column(trained_deployment, cli, tmp_path):
    copy = tmp_path / "deployment"
    shutil.copytree(trained_deployment, copy)
    stored = tree_digest(copy)
    data = write_frame(tmp_path / "no_x2.csv", make_classification_frame().drop(columns=["x2", "churn"]))
    result = cli("predict", data, copy)
    assert_one_line_error(result, "x2")
    assert tree_digest(copy) == stored  # nothing logged or rewritten by a refused request


# --------------------------------------------------------------------------- --debug


def test_debug_shows_the_traceback_of_a_user_error(cli_process, tmp_path, models_dir):
    result = cli_process("--debug", "train", tmp_path / "absent.csv")
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "DataError" in result.stderr and "absent.csv" in result.stderr
    assert_nothing_deployed(models_dir)
