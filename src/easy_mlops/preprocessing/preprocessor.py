"""The guide's ``DataPreprocessor``: the core :class:`~easy_mlops.preprocessing.transformer.Preprocessor`
under the names scripts written for the original package call.

The core transformer has scikit-learn's names only (``fit``, ``transform``);
the guide's split-and-transform call (``prepare_data``), its file reader
(``load_data``) and the target it remembers (``target_column``) live here.
Deployments pickled their preprocessor by this module's path
(``easy_mlops.preprocessing.preprocessor.DataPreprocessor``) until the core
class had its own: they load as this class and predict as they did.
"""

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from easy_mlops.data.loaders import load_table
from easy_mlops.errors import DataError
from easy_mlops.preprocessing.transformer import Preprocessor


class DataPreprocessor(Preprocessor):
    """A :class:`Preprocessor` with the guide's ``prepare_data``, ``load_data`` and ``target_column``.

    ``target_column_`` is the target ``prepare_data(..., fit=True)`` split off
    (None when fitted by ``fit``, which is given features only).
    """

    _how_to_fit = "prepare_data(..., fit=True)"

    @classmethod
    def from_fitted(cls, preprocessor: Any, target_column: str | None = None) -> Any:
        """The guide's view of a deployment's fitted :class:`Preprocessor`: the same learned state,
        remembering ``target_column`` as a preprocessor fitted by ``prepare_data`` does.

        Anything else (a ``DataPreprocessor`` already, a custom object, None) is returned as it is.
        """
        if isinstance(preprocessor, cls) or not isinstance(preprocessor, Preprocessor):
            return preprocessor
        guide = cls.__new__(cls)
        guide.__dict__.update(vars(preprocessor))
        guide.target_column_ = target_column
        return guide

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Before the preprocessor was a scikit-learn estimator it kept its target as ``target_column``."""
        state = dict(state)
        if "target_column" in state:
            state["target_column_"] = state.pop("target_column")
        super().__setstate__(state)

    @property
    def target_column(self) -> str | None:
        """The target ``prepare_data(..., fit=True)`` split off: the guide's preprocessor remembers it."""
        return getattr(self, "target_column_", None)

    @target_column.setter
    def target_column(self, value: str | None) -> None:
        self.target_column_ = value  # a plain attribute in the guide's preprocessor: assignable as it was

    def load_data(self, path: str | Path) -> pd.DataFrame:
        """Read a CSV, TSV, JSON, JSON Lines or Parquet file."""
        return load_table(path)

    def prepare_data(
        self, df: pd.DataFrame, target_column: str | None = None, fit: bool = False
    ) -> tuple[np.ndarray, pd.Series | None]:
        """Split off the target (when given) and transform the features.

        With ``fit=True`` the transformers learn from ``df``; otherwise ``df`` is
        reconciled with the training schema and transformed as it was then.
        """
        target = None
        if target_column is not None:
            if target_column not in df.columns:
                raise DataError(f"target column '{target_column}' not found in the data")
            target = df[target_column]
            df = df.drop(columns=[target_column])
        if not fit:
            return self.transform(df), target
        features = self.fit_transform(df)
        self.target_column_ = target_column
        return features, target

    def _fit(self, frame: pd.DataFrame) -> np.ndarray:
        self.target_column_ = None  # prepare_data names it, once the fit succeeded
        return super()._fit(frame)
