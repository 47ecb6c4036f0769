"""Baseline for ``make-mlops-easy train DATA``: the same work with pandas, scikit-learn and joblib only.

    python bench/baselines/train.py DATA OUTDIR

Reads the CSV, splits off the last column as the target, makes the same
stratified hold-out split, fits the same preprocessing (conf/preprocessing/standard.yaml)
and the same random forest (conf/trainer/random_forest.yaml) on the training
rows, scores the hold-out rows with the same weighted metrics and writes
``model.joblib`` ({"model": estimator, ...}), ``preprocessor.joblib`` (the
fitted ColumnTransformer) and ``metadata.json`` (with the metrics) to OUTDIR.
"""

import json
import sys
from pathlib import Path

import joblib
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def main(data_path: str, output_dir: str) -> None:
    frame = pd.read_csv(data_path)
    target = frame.columns[-1]
    train_rows, test_rows = train_test_split(frame, test_size=0.2, random_state=42, stratify=frame[target])
    x_train, y_train = train_rows.drop(columns=[target]), train_rows[target]
    x_test, y_test = test_rows.drop(columns=[target]), test_rows[target]

    numeric = [c for c in x_train.columns if pd.api.types.is_numeric_dtype(x_train[c])]
    categorical = [c for c in x_train.columns if c not in numeric]
    preprocessor = ColumnTransformer(
        [
            (
                "numeric",
                Pipeline([("imputer", SimpleImputer(strategy="median")), ("scaler", StandardScaler())]),
                numeric,
            ),
            (
                "categorical",
                Pipeline(
                    [
                        ("imputer", SimpleImputer(strategy="most_frequent")),
                        ("encoder", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                categorical,
            ),
        ],
        remainder="drop",
        verbose_feature_names_out=False,
    )
    features_train = preprocessor.fit_transform(x_train)
    features_test = preprocessor.transform(x_test)

    model = RandomForestClassifier(
        n_estimators=100, max_depth=None, min_samples_leaf=1, n_jobs=None, random_state=42
    )
    model.fit(features_train, y_train)
    predicted = model.predict(features_test)
    metrics = {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "f1_score": float(f1_score(y_test, predicted, average="weighted", zero_division=0)),
        "precision": float(precision_score(y_test, predicted, average="weighted", zero_division=0)),
        "recall": float(recall_score(y_test, predicted, average="weighted", zero_division=0)),
    }

    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    model_data = {
        "model": model,
        "problem_type": "classification",
        "target_column": target,
        "metrics": metrics,
    }
    joblib.dump(model_data, output / "model.joblib")
    joblib.dump(preprocessor, output / "preprocessor.joblib")
    metadata = {
        "target_column": target,
        "problem_type": "classification",
        "metrics": metrics,
        "train_rows": len(train_rows),
        "test_rows": len(test_rows),
    }
    (output / "metadata.json").write_text(json.dumps(metadata, indent=2), encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: train.py DATA OUTDIR")
    main(sys.argv[1], sys.argv[2])
