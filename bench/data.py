"""Synthetic tables for the benchmarks: numeric features, two categories, a class target.

``make_frame(rows)`` is ``make_classification`` (20 numeric columns, 3 classes)
plus two categorical columns derived deterministically from the numeric ones
with fixed cut points, so every size and seed has the same categories. The
target is the last column, ``target``. A scoring table is the same generator
with another seed and no target column.

Usable on its own:

    python bench/data.py 200000 /tmp/train.csv
    python bench/data.py 1000000 /tmp/score.csv --seed 1 --no-target
"""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification

N_NUMERIC = 20
TRAIN_SEED = 0
SCORING_SEED = 1
REGIONS = np.array(["north", "east", "south", "west", "centre"])
REGION_CUTS = [-1.0, -0.3, 0.3, 1.0]
PLANS = np.array(["basic", "standard", "premium"])
PLAN_CUTS = [-0.5, 0.5]


def make_frame(rows: int, seed: int = TRAIN_SEED, with_target: bool = True) -> pd.DataFrame:
    """``rows`` rows: ``num_00`` ... ``num_19``, ``region``, ``plan`` and (optionally) ``target``."""
    features, target = make_classification(
        n_samples=rows,
        n_features=N_NUMERIC,
        n_informative=8,
        n_redundant=4,
        n_classes=3,
        n_clusters_per_class=2,
        flip_y=0.02,
        random_state=seed,
    )
    frame = pd.DataFrame(features, columns=[f"num_{i:02d}" for i in range(N_NUMERIC)])
    frame["region"] = REGIONS[np.digitize(features[:, 0], REGION_CUTS)]
    frame["plan"] = PLANS[np.digitize(features[:, 1] - features[:, 2], PLAN_CUTS)]
    if with_target:
        frame["target"] = target
    return frame


def write_csv(path: str | Path, rows: int, seed: int = TRAIN_SEED, with_target: bool = True) -> Path:
    """Write ``make_frame(rows, seed, with_target)`` as CSV (6 decimals) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    make_frame(rows, seed, with_target).round(6).to_csv(path, index=False)
    return path


def training_csv(path: str | Path, rows: int) -> Path:
    return write_csv(path, rows, TRAIN_SEED, with_target=True)


def scoring_csv(path: str | Path, rows: int) -> Path:
    return write_csv(path, rows, SCORING_SEED, with_target=False)


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a synthetic benchmark table as CSV.")
    parser.add_argument("rows", type=int)
    parser.add_argument("path")
    parser.add_argument("--seed", type=int, default=TRAIN_SEED)
    parser.add_argument("--no-target", action="store_true", help="a scoring table: no target column")
    args = parser.parse_args()
    print(write_csv(args.path, args.rows, args.seed, not args.no_target))


if __name__ == "__main__":
    main()
