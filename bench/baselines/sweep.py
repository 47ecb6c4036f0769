"""Baseline for a sweep of logistic regressions: the same fits, without a framework.

    python bench/baselines/sweep.py DATA OUTDIR [--jobs 16] [--n-jobs 2]

Job ``i`` (1 to ``--jobs``) runs ``train.py``'s work with ``--model
logistic_regression --C i`` into ``OUTDIR/job_i``, ``--n-jobs`` jobs at a
time in joblib's worker processes, as Hydra's joblib launcher runs the jobs of
``python -m easy_mlops.run -m ... 'trainer.model.C=range(1,17)'``.
"""

import argparse
import sys
from pathlib import Path

from joblib import Parallel, delayed

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train  # noqa: E402  (the single-run baseline beside this file)


def main(data_path: str, output_dir: str, jobs: int, n_jobs: int) -> None:
    Parallel(n_jobs=n_jobs)(
        delayed(train.main)(
            data_path, str(Path(output_dir) / f"job_{job}"), "logistic_regression", float(job)
        )
        for job in range(1, jobs + 1)
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("output_dir")
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    main(args.data, args.output_dir, args.jobs, args.n_jobs)
