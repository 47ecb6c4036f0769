"""XGBoost and LightGBM as trainers like any other (``trainer=xgboost``, ``trainer=lightgbm``).

LightGBM's classifier takes any class labels itself; XGBoost's wants 0..n-1,
so :class:`XGBClassifier` encodes them for fitting and decodes predictions,
as scikit-learn's classifiers behave. A GPU is asked for with
``trainer.model.device=cuda`` and checked before any data is read: XGBoost
itself would quietly fall back to the CPU.
"""

import warnings
from typing import Any

import numpy as np
import xgboost

# What XGBoost says when it falls back to the CPU.
NO_GPU = ("No visible GPU", "couldn't find any available GPU")


class XGBClassifier(xgboost.XGBClassifier):
    """xgboost's classifier for any class labels (text, or numbers that are not 0..n-1).

    ``classes_`` are the original labels and ``predict`` returns them;
    ``predict_proba`` columns follow ``classes_``.
    """

    def fit(self, X: Any, y: Any, **kwargs: Any) -> "XGBClassifier":
        from sklearn.preprocessing import LabelEncoder

        encoder = LabelEncoder().fit(y)
        self.original_classes_ = None  # while fitting, classes_ are xgboost's own 0..n-1
        super().fit(X, encoder.transform(y), **kwargs)
        self.original_classes_ = encoder.classes_
        return self

    @property
    def classes_(self) -> np.ndarray:
        original = getattr(self, "original_classes_", None)
        return np.arange(self.n_classes_) if original is None else original

    def predict(self, X: Any, **kwargs: Any) -> np.ndarray:
        return self.classes_[np.asarray(super().predict(X, **kwargs), dtype=int)]


def cuda_available() -> bool:
    """Whether XGBoost can train on a CUDA device here: its own probe, one tiny boosting round."""
    if not xgboost.build_info().get("USE_CUDA"):
        return False
    probe = xgboost.DMatrix(np.zeros((2, 1)), label=[0.0, 1.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        xgboost.train({"device": "cuda", "tree_method": "hist"}, probe, num_boost_round=1)
    return not any(sign in str(warning.message) for warning in caught for sign in NO_GPU)
