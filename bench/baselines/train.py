"""Baseline for ``make-mlops-easy train DATA``: the same work with pandas, scikit-learn and joblib only.

    python bench/baselines/train.py DATA OUTDIR [--model random_forest|logistic_regression|xgboost] [--C 1.0]

Reads the CSV, splits off the last column as the target, makes the same
stratified hold-out split, fits the same preprocessing (conf/preprocessing/standard.yaml)
and the same model (conf/trainer/random_forest.yaml by default,
conf/trainer/logistic_regression.yaml with its ``C``, or conf/trainer/xgboost.yaml)
on the training rows,
scores the hold-out rows with the same weighted metrics and writes
``model.joblib`` ({"model": estimator, ...}), ``preprocessor.joblib`` (the
fitted ColumnTransformer) and ``metadata.json`` (with the metrics) to OUTDIR.
"""

import argparse
import json
from pathlib import Path

import joblib
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

MODELS = {
    "random_forest": lambda c: RandomForestClassifier(
        n_estimators=100, max_depth=None, min_samples_leaf=1, n_jobs=None, random_state=42
    ),
    "logistic_regression": lambda c: LogisticRegression(C=c, max_iter=1000, random_state=42),
    # conf/trainer/xgboost.yaml; the bench's classes are already 0..n-1, as xgboost wants them.
    "xgboost": lambda c: __import__("xgboost").XGBClassifier(
        n_estimators=200, learning_rate=0.1, max_depth=6, tree_method="hist", device="cpu", random_state=42
    ),
}


def main(data_path: str, output_dir: str, model_name: str = "random_forest", c: float = 1.0) -> None:
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
                        (
                            "encoder",
                            OneHotEncoder(
                                max_categories=50,
                                handle_unknown="infrequent_if_exist",
                                sparse_output=False,
                            ),
                        ),
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

    model = MODELS[model_name](c)
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("output_dir")
    parser.add_argument("--model", choices=sorted(MODELS), default="random_forest")
    parser.add_argument("--C", type=float, default=1.0, help="logistic regression's inverse regularisation")
    args = parser.parse_args()
    main(args.data, args.output_dir, args.model, args.C)
