"""The fitted feature transformation shared by training and prediction.

:class:`DataPreprocessor` is built from the ``preprocessing`` config (named
scikit-learn transformers per column kind), fitted once at train time, pickled
into the deployment and reused unchanged at predict time. At predict time it
reconciles the incoming frame with the training schema: missing columns are an
error naming them, extra columns are dropped with a warning, columns are
reordered, types are coerced and no row is ever dropped.
"""

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from easy_mlops.config.instantiate import as_container, instantiate_steps
from easy_mlops.data.loaders import load_table
from easy_mlops.errors import DataError

log = logging.getLogger(__name__)


class DataPreprocessor:
    """Impute, encode and scale a table the way it was done at train time.

    Learned state ends in ``_``: ``numeric_columns_``, ``categorical_columns_``,
    ``feature_names_in_`` and the fitted ``transformer_``.
    """

    def __init__(
        self,
        numeric: dict[str, Any] | None = None,
        categorical: dict[str, Any] | None = None,
        trusted_modules: Iterable[str] = (),
    ) -> None:
        self.numeric = dict(numeric or {})
        self.categorical = dict(categorical or {})
        self.trusted_modules = tuple(trusted_modules)

    @classmethod
    def from_config(cls, cfg: Any, trusted_modules: Iterable[str] = ()) -> "DataPreprocessor":
        """Build from a ``preprocessing`` node (DictConfig, dataclass or dict)."""
        container = as_container(cfg)
        return cls(container.get("numeric"), container.get("categorical"), trusted_modules)

    def load_data(self, path: str | Path) -> pd.DataFrame:
        """Read a CSV, JSON, JSON Lines or Parquet file."""
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
        if fit:
            return self._fit_transform(df), target
        return self.transform(df), target

    def _fit_transform(self, features: pd.DataFrame) -> np.ndarray:
        empty = [str(c) for c in features.columns if features[c].isna().all()]
        if empty:
            raise DataError(f"column(s) with no values at all: {', '.join(empty)}; drop or fill them")
        self.feature_names_in_ = [str(column) for column in features.columns]
        self.numeric_columns_ = [
            c
            for c in self.feature_names_in_
            if pd.api.types.is_numeric_dtype(features[c]) or pd.api.types.is_bool_dtype(features[c])
        ]
        self.categorical_columns_ = [c for c in self.feature_names_in_ if c not in self.numeric_columns_]
        from sklearn.compose import ColumnTransformer  # scikit-learn loads only once there is work

        self.transformer_ = ColumnTransformer(
            [
                ("numeric", self._pipeline(self.numeric, "numeric"), self.numeric_columns_),
                ("categorical", self._pipeline(self.categorical, "categorical"), self.categorical_columns_),
            ],
            remainder="drop",
            verbose_feature_names_out=False,
        )
        return np.asarray(self.transformer_.fit_transform(self._coerce(features)), dtype=float)

    def _pipeline(self, steps: dict[str, Any], kind: str) -> Any:
        from sklearn.pipeline import Pipeline

        built = instantiate_steps(steps, f"preprocessing.{kind}", self.trusted_modules)
        return Pipeline(built) if built else "passthrough"

    def transform(self, features: pd.DataFrame) -> np.ndarray:
        """Transform a scoring frame: one output row per input row, in input order."""
        if not hasattr(self, "transformer_"):
            raise DataError("the preprocessor is not fitted; call prepare_data(..., fit=True) first")
        features = self.align(features)
        return np.asarray(self.transformer_.transform(self._coerce(features)), dtype=float)

    def align(self, features: pd.DataFrame) -> pd.DataFrame:
        """Select the training columns in training order; drop extras with a warning."""
        columns = [str(column) for column in features.columns]
        missing = [c for c in self.feature_names_in_ if c not in columns]
        if missing:
            raise DataError(f"missing feature column(s): {', '.join(missing)}")
        extra = [c for c in columns if c not in self.feature_names_in_]
        if extra:
            log.warning("ignoring column(s) not seen in training: %s", ", ".join(extra))
        if len(set(columns)) != len(columns):
            repeated = sorted({c for c in columns if columns.count(c) > 1})
            raise DataError(f"duplicate column names: {', '.join(repeated)}")
        if columns == self.feature_names_in_ and list(features.columns) == columns:
            return features  # already the training layout: no copy
        return features.set_axis(columns, axis=1)[self.feature_names_in_]

    def _coerce(self, features: pd.DataFrame) -> pd.DataFrame:
        """Numbers as float64 (numeric strings accepted), categories as text; other columns untouched."""
        coerced = {}
        for column in self.numeric_columns_:
            values = features[column]
            if values.dtype == "float64":
                continue
            if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
                coerced[column] = values.astype("float64")
                continue
            numbers = pd.to_numeric(values, errors="coerce")
            bad = numbers.isna() & values.notna()
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise DataError(
                    f"column '{column}' must be numeric, found {values.iloc[row]!r} in row {row + 1}"
                )
            coerced[column] = numbers.astype("float64")
        for column in self.categorical_columns_:
            coerced[column] = as_text(features[column])
        if not coerced:
            return features
        features = features.copy(deep=False)  # copy-on-write: only replaced columns are new
        for column, values in coerced.items():
            features[column] = values
        return features

    def input_schema(self) -> list[dict[str, str]]:
        """Column names and kinds the fitted preprocessor expects."""
        return [
            {"name": c, "kind": "numeric" if c in self.numeric_columns_ else "categorical"}
            for c in self.feature_names_in_
        ]


def as_text(values: pd.Series) -> pd.Series:
    """A categorical column as text with NaN for missing, whatever its dtype.

    pandas' own ``str`` columns (NaN for missing) pass through untouched, as
    scikit-learn reads them directly. Anything else becomes Python strings in
    one vectorised step: ``None`` and ``pd.NA`` become NaN, and numbers,
    booleans or dates in a categorical column (an id read as int at predict
    time, say) become their ``str``, as they were at train time.
    """
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.na_value is np.nan:
        return values
    as_objects = values.to_numpy(dtype=object, na_value=np.nan)
    if pd.api.types.infer_dtype(as_objects, skipna=True) not in ("string", "empty"):
        present = pd.notna(as_objects)
        as_objects[present] = [str(value) for value in as_objects[present]]
    # dtype=object: pandas would otherwise infer str again and scikit-learn convert it back.
    return pd.Series(as_objects, index=values.index, name=values.name, dtype=object)
