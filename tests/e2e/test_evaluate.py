"""Live metrics from labels: ``evaluate`` scores labelled data after the deployment and alerts on it."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from easy_mlops import MLOpsPipeline
from easy_mlops.pipeline import run_experiment


def labelled(rows: int, seed: int, flip: float = 0.0) -> pd.DataFrame:
    """``y`` follows ``x1``; ``flip`` is the share of labels turned the other way (the world changed)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.normal(size=rows), "x2": rng.normal(size=rows)})
    frame["y"] = np.where(frame.x1 > 0, "yes", "no")
    flipped = rng.random(rows) < flip
    frame.loc[flipped, "y"] = np.where(frame.y[flipped] == "yes", "no", "yes")
    return frame


@pytest.fixture
def deployed(compose, tmp_path, models_dir):
    labelled(1000, 0).to_csv(tmp_path / "train.csv", index=False)
    labelled(400, 1).to_csv(tmp_path / "week1.csv", index=False)
    labelled(400, 2, flip=0.4).to_csv(tmp_path / "week2.csv", index=False)
    cfg = compose("data=csv", f"data.path={tmp_path / 'train.csv'}")
    return models_dir / run_experiment(cfg)["deployment"]["deployment_name"]


def metrics_log(deployment):
    return [
        json.loads(line) for line in (deployment / "logs" / "metrics_history.jsonl").read_text().splitlines()
    ]


def test_live_metrics_are_logged_with_their_source_and_alert_when_they_miss(cli, deployed):
    good = cli("evaluate", "week1.csv", str(deployed), "--json", "--fail-on-alert")
    assert good.returncode == 0, good.stderr
    week1 = json.loads(good.stdout)
    assert week1["rows"] == 400 and week1["target"] == "y" and week1["metrics"]["accuracy"] > 0.9
    assert week1["alerts"] == []

    bad = cli("evaluate", "--fail-on-alert", "week2.csv", str(deployed))
    assert bad.returncode == 3, bad.stderr
    assert "ALERT accuracy" in bad.stdout and "Live metrics on week2.csv" in bad.stdout

    sources = [record.get("source") for record in metrics_log(deployed)]
    assert sources == ["training", "live", "live"]
    alerts = [json.loads(line) for line in (deployed / "logs" / "alerts.jsonl").read_text().splitlines()]
    assert [record.get("source") for record in alerts] == ["training", "live", "live"]
    assert [alert["metric"] for alert in alerts[-1]["alerts"]][:1] == ["accuracy"]

    status = json.loads(cli("status", str(deployed), "--json").stdout)
    metrics = status["metrics"]
    live = metrics["live"]
    assert live["evaluations"] == 2 and live["latest_metrics"]["accuracy"] < 0.7
    assert metrics["training_metrics"]["accuracy"] > 0.9  # training day's, beside the live ones
    trend = live["trends"]["accuracy"]
    assert trend["min"] == live["latest_metrics"]["accuracy"] and trend["max"] == week1["metrics"]["accuracy"]
    assert any(alert["metric"] == "accuracy" for alert in status["alerts"]["active_alerts"])
    assert cli("status", str(deployed), "--fail-on-alert").returncode == 3

    text = cli("status", str(deployed)).stdout
    assert "training vs live" in text and "live mean" in text
    report = cli("observe", str(deployed)).stdout
    assert "training vs live (2 live evaluation(s)" in report and "live trend accuracy" in report


def test_a_good_live_evaluation_clears_the_metric_alert(cli, deployed):
    assert cli("evaluate", "week2.csv", str(deployed), "--fail-on-alert").returncode == 3
    assert cli("evaluate", "week1.csv", str(deployed), "--fail-on-alert").returncode == 0
    assert cli("status", str(deployed), "--fail-on-alert").returncode == 0


def test_the_python_api_evaluates_like_the_command(deployed, tmp_path):
    result = MLOpsPipeline().evaluate(tmp_path / "week2.csv", deployed)
    assert result["metrics"]["accuracy"] < 0.7 and result["alerts"][0]["metric"] == "accuracy"
    assert metrics_log(deployed)[-1]["source"] == "live"
    assert MLOpsPipeline().get_status(deployed)["metrics"]["live"]["evaluations"] == 1


def test_an_other_label_column_unlabelled_rows_and_bad_labels(cli, deployed, tmp_path):
    frame = labelled(300, 3).rename(columns={"y": "outcome"})
    frame.loc[:49, "outcome"] = None
    frame.to_csv(tmp_path / "renamed.csv", index=False)
    result = cli("evaluate", "renamed.csv", str(deployed), "--target", "outcome", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == 250 and json.loads(result.stdout)["unlabelled_rows"] == 50

    before = metrics_log(deployed)
    missing = cli("evaluate", "renamed.csv", str(deployed))
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        "error: renamed.csv: no label column 'y' (columns: x1, x2, outcome); name it with --target"
    ]
    labelled(20, 4).assign(y="maybe").to_csv(tmp_path / "odd.csv", index=False)
    odd = cli("evaluate", "odd.csv", str(deployed))
    assert (
        odd.returncode == 2
        and "none of its labels is a class this deployment predicts (no, yes)" in odd.stderr
    )
    assert "Traceback" not in missing.stderr + odd.stderr
    assert metrics_log(deployed) == before  # nothing logged for an evaluation that did not happen


def test_regression_live_metrics(compose, cli, tmp_path, models_dir, regression_csv):
    cfg = compose("data=csv", f"data.path={regression_csv}", "observability.metric_thresholds.rmse=0.5")
    deployment = models_dir / run_experiment(cfg)["deployment"]["deployment_name"]
    frame = pd.read_csv(regression_csv)
    frame.assign(**{frame.columns[-1]: frame[frame.columns[-1]] * 3}).to_csv(
        tmp_path / "later.csv", index=False
    )
    result = cli("evaluate", "later.csv", str(deployment), "--json")
    assert result.returncode == 0, result.stderr
    live = json.loads(result.stdout)
    assert set(live["metrics"]) == {"mse", "rmse", "mae", "r2_score"}
    assert any(alert["metric"] == "rmse" for alert in live["alerts"])


# --------------------------------------------------------------------------- classifier details


def reference_scores(deployment, frame: pd.DataFrame):
    """The deployment's estimator on ``frame`` through scikit-learn: truth, labels, probabilities."""
    from easy_mlops.deployment import Deployment

    loaded = Deployment.load(deployment)
    features = loaded.preprocessor.transform(frame.drop(columns=["y"]))
    model = loaded.model
    probabilities = model.predict_proba(features) if hasattr(model, "predict_proba") else None
    return frame["y"], model.predict(features), list(model.classes_), probabilities


def per_class(truth, predicted, labels) -> list[dict]:
    from sklearn.metrics import precision_recall_fscore_support

    scores = precision_recall_fscore_support(truth, predicted, labels=labels, zero_division=0)
    return [
        {"label": label, "precision": float(p), "recall": float(r), "f1_score": float(f), "support": int(n)}
        for label, p, r, f, n in zip(labels, *scores, strict=True)
    ]


def test_a_classifier_is_also_measured_by_roc_auc_log_loss_confusion_matrix_and_class(
    cli, deployed, tmp_path
):
    from sklearn.metrics import confusion_matrix, log_loss, roc_auc_score

    result = cli("evaluate", "week1.csv", str(deployed), "--json")
    assert result.returncode == 0, result.stderr
    week1 = json.loads(result.stdout)
    assert list(week1) == [  # the keys it always had, then the classifier's details
        "data",
        "target",
        "rows",
        "unlabelled_rows",
        "metrics",
        "alerts",
        "classification",
    ]
    truth, predicted, classes, probabilities = reference_scores(deployed, pd.read_csv(tmp_path / "week1.csv"))
    assert classes == ["no", "yes"]
    metrics = week1["metrics"]
    assert list(metrics) == ["accuracy", "f1_score", "precision", "recall", "roc_auc", "log_loss"]
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(truth == "yes", probabilities[:, 1]))
    assert metrics["log_loss"] == pytest.approx(log_loss(truth, probabilities, labels=classes))
    assert week1["classification"] == {
        "labels": ["no", "yes"],
        "positive_class": "yes",
        "confusion_matrix": confusion_matrix(truth, predicted, labels=classes).tolist(),
        "per_class": per_class(truth, predicted, classes),
        "not_computed": {},
    }
    record = metrics_log(deployed)[-1]  # what the HTML report reads
    assert record["metrics"] == metrics and record["classification"] == week1["classification"]

    text = cli("evaluate", "week1.csv", str(deployed)).stdout
    assert "Confusion matrix (rows: true label, columns: predicted)" in text and "Per class" in text
    assert "roc_auc is of the positive class 'yes'" in text
    matrix = week1["classification"]["confusion_matrix"]
    assert re.search(rf"│ no +│ +{matrix[0][0]} │ +{matrix[0][1]} │", text), text
    assert re.search(r"│ roc_auc +│ +[01]\.\d{4} │", text)

    # ROC AUC is a bounded score: below alert_threshold (0.8) it alerts; log loss has no default threshold.
    worse = json.loads(cli("evaluate", "week2.csv", str(deployed), "--json").stdout)
    assert worse["metrics"]["roc_auc"] < 0.8 and worse["metrics"]["log_loss"] > metrics["log_loss"]
    alerted = {alert["metric"]: alert for alert in worse["alerts"]}
    assert alerted["roc_auc"]["direction"] == "higher" and "log_loss" not in alerted


def test_log_loss_alerts_with_its_own_threshold_lower_being_better(compose, cli, tmp_path, models_dir):
    labelled(1000, 0).to_csv(tmp_path / "train.csv", index=False)
    labelled(300, 2, flip=0.3).to_csv(tmp_path / "later.csv", index=False)
    cfg = compose(
        "data=csv", f"data.path={tmp_path / 'train.csv'}", "observability.metric_thresholds.log_loss=0.5"
    )
    deployment = models_dir / run_experiment(cfg)["deployment"]["deployment_name"]
    result = json.loads(cli("evaluate", "later.csv", str(deployment), "--json").stdout)
    [alert] = [alert for alert in result["alerts"] if alert["metric"] == "log_loss"]
    assert alert == {
        "metric": "log_loss",
        "value": result["metrics"]["log_loss"],
        "threshold": 0.5,
        "direction": "lower",
    }
    assert result["metrics"]["log_loss"] > 0.5


def three_classes(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.normal(size=rows), "x2": rng.normal(size=rows)})
    frame["y"] = np.select([frame.x1 < -0.4, frame.x1 < 0.4], ["low", "mid"], "high")
    return frame


def test_multiclass_roc_auc_is_one_vs_rest_weighted_and_what_cannot_be_measured_is_said(
    compose, cli, tmp_path, models_dir
):
    from sklearn.metrics import roc_auc_score

    three_classes(900, 0).to_csv(tmp_path / "train.csv", index=False)
    live = three_classes(300, 1)
    live.to_csv(tmp_path / "live.csv", index=False)
    cfg = compose("data=csv", f"data.path={tmp_path / 'train.csv'}")
    forest = models_dir / run_experiment(cfg)["deployment"]["deployment_name"]
    result = json.loads(cli("evaluate", "live.csv", str(forest), "--json").stdout)
    truth, _, classes, probabilities = reference_scores(forest, live)
    assert classes == ["high", "low", "mid"] == result["classification"]["labels"]
    assert result["classification"]["positive_class"] is None
    expected = roc_auc_score(truth, probabilities, multi_class="ovr", average="weighted", labels=classes)
    assert result["metrics"]["roc_auc"] == pytest.approx(expected)

    # Labels the deployment never saw: counted in the matrix; probability metrics are not defined.
    live.assign(y=np.where(live.index < 10, "unheard", live.y)).to_csv(tmp_path / "odd.csv", index=False)
    odd = json.loads(cli("evaluate", "odd.csv", str(forest), "--json").stdout)
    assert odd["classification"]["labels"] == ["high", "low", "mid", "unheard"]
    assert [row["support"] for row in odd["classification"]["per_class"]][-1] == 10
    assert "roc_auc" not in odd["metrics"] and "log_loss" not in odd["metrics"]
    assert odd["classification"]["not_computed"]["roc_auc"] == (
        "label(s) unheard are not classes of this deployment"
    )

    # An estimator without predict_proba: no probability metrics, and why; the rest as usual.
    svm = compose(
        "data=csv",
        f"data.path={tmp_path / 'train.csv'}",
        "trainer=logistic_regression",
        "trainer.estimators.classification=sklearn.svm.LinearSVC",
    )
    linear = models_dir / run_experiment(svm)["deployment"]["deployment_name"]
    plain = json.loads(cli("evaluate", "live.csv", str(linear), "--json").stdout)
    assert list(plain["metrics"]) == ["accuracy", "f1_score", "precision", "recall"]
    assert plain["classification"]["not_computed"] == {
        "roc_auc": "its estimator LinearSVC has no predict_proba",
        "log_loss": "its estimator LinearSVC has no predict_proba",
    }
    assert sum(map(sum, plain["classification"]["confusion_matrix"])) == 300
    text = cli("evaluate", "live.csv", str(linear)).stdout
    assert "roc_auc not measured: its estimator LinearSVC has no predict_proba" in text


PLAIN_MODEL = '''
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class Plain(ClassifierMixin, BaseEstimator):
    """Always the first training label: no classes_, no predict_proba."""

    def fit(self, X, y):
        self.first_ = np.asarray(y)[0]
        return self

    def predict(self, X):
        return np.full(len(X), self.first_)
'''


def test_a_classifier_without_classes_is_still_tabulated(compose, cli, tmp_path, models_dir, monkeypatch):
    (tmp_path / "plain_model.py").write_text(PLAIN_MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    labelled(300, 0).to_csv(tmp_path / "train.csv", index=False)
    labelled(100, 1).to_csv(tmp_path / "live.csv", index=False)
    cfg = compose(
        "data=csv",
        f"data.path={tmp_path / 'train.csv'}",
        "trainer=logistic_regression",
        "trainer.estimators.classification=plain_model.Plain",
        "~trainer.model.C",
        "~trainer.model.max_iter",
        "~trainer.model.random_state",
        "trusted_modules=[plain_model]",
    )
    deployment = models_dir / run_experiment(cfg)["deployment"]["deployment_name"]
    result = cli("evaluate", "live.csv", str(deployment), "--json")
    assert result.returncode == 0, result.stderr
    classification = json.loads(result.stdout)["classification"]
    assert classification["labels"] == ["no", "yes"]  # the labels and predictions seen, sorted
    assert sum(map(sum, classification["confusion_matrix"])) == 100
    assert classification["not_computed"]["roc_auc"] == "its estimator Plain has no predict_proba"
