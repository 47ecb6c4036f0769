"""Baseline for ``make-mlops-easy predict DATA MODEL_DIR -o OUT.json``: joblib, pandas and scikit-learn only.

    python bench/baselines/predict.py DATA MODEL_DIR OUT.json

MODEL_DIR is what ``bench/baselines/train.py`` wrote: ``model.joblib`` (a
dict whose ``model`` is the estimator) and ``preprocessor.joblib`` (a fitted
ColumnTransformer). Reads the CSV, drops the target column if present,
transforms, predicts and writes ``{"predictions": [...]}``.
"""

import json
import sys
from pathlib import Path

import joblib
import pandas as pd


def main(data_path: str, model_dir: str, output_path: str) -> None:
    directory = Path(model_dir)
    model_data = joblib.load(directory / "model.joblib")
    preprocessor = joblib.load(directory / "preprocessor.joblib")
    frame = pd.read_csv(data_path)
    target = model_data.get("target_column")
    if target in frame.columns:
        frame = frame.drop(columns=[target])
    predictions = model_data["model"].predict(preprocessor.transform(frame))
    Path(output_path).write_text(json.dumps({"predictions": predictions.tolist()}), encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: predict.py DATA MODEL_DIR OUT.json")
    main(sys.argv[1], sys.argv[2], sys.argv[3])
