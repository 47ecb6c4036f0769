"""The fitted feature transformation shared by training and prediction.

:class:`DataPreprocessor` is built from the ``preprocessing`` config (named
scikit-learn transformers per column kind), fitted once at train time, pickled
into the deployment and reused unchanged at predict time. At predict time it
reconciles the incoming frame with the training schema: missing columns are an
error naming them, extra columns are dropped with a warning, columns are
reordered, types are coerced and no row is ever dropped. ``inf`` in a numeric
column is a missing value (imputed), said in one warning; a number too large
for the numeric transformers is an error naming its column. Identifier-like
columns (a customer id) are left out at fit time and not asked for later.
"""

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from easy_mlops.data.loaders import load_table
from easy_mlops.errors import ConfigError, DataError

log = logging.getLogger(__name__)

# The largest number scikit-learn's tree models can split on (they compute in float32).
FLOAT32_MAX = float(np.finfo(np.float32).max)
# Identifier-like: a text column with at least this share of distinct values, or an
# integer column whose values are all distinct, in at least IDENTIFIER_MIN_ROWS rows.
# Never a float column: measurements are often all distinct.
IDENTIFIER_SHARE = 0.95
IDENTIFIER_MIN_ROWS = 20


class DataPreprocessor:
    """Impute, encode and scale a table the way it was done at train time.

    Learned state ends in ``_``: ``numeric_columns_``, ``categorical_columns_``,
    ``feature_names_in_``, the fitted ``transformer_`` and ``dropped_columns_``
    (identifier-like columns left out, unless ``drop_identifiers`` is off or
    they are in ``keep_columns``). Fitting does not warn about them: the caller
    reports them once, as the trainer does for a whole run of folds and splits.
    """

    def __init__(
        self,
        numeric: dict[str, Any] | None = None,
        categorical: dict[str, Any] | None = None,
        trusted_modules: Iterable[str] = (),
        drop_identifiers: bool = True,
        keep_columns: Iterable[str] = (),
    ) -> None:
        self.numeric = numeric  # None for both: the standard preset's transformers
        self.categorical = categorical
        self.trusted_modules = tuple(trusted_modules)
        self.drop_identifiers = drop_identifiers
        self.keep_columns = [str(column) for column in keep_columns]

    @classmethod
    def from_config(cls, cfg: Any, trusted_modules: Iterable[str] = ()) -> "DataPreprocessor":
        """Build from a ``preprocessing`` node (DictConfig, dataclass or dict)."""
        from easy_mlops.config.instantiate import as_container

        container = as_container(cfg)
        return cls(
            container.get("numeric"),
            container.get("categorical"),
            trusted_modules,
            drop_identifiers=container.get("drop_identifiers", True),
            keep_columns=container.get("keep_columns") or (),
        )

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
            self.target_column = target_column  # remembered, as the guide's preprocessor does
            return self._fit_transform(df), target
        return self.transform(df), target

    def _fit_transform(self, features: pd.DataFrame) -> np.ndarray:
        features = self._leave_out_identifiers(features)
        self.feature_names_in_ = [str(column) for column in features.columns]
        self.numeric_columns_ = [
            c
            for c in self.feature_names_in_
            if pd.api.types.is_numeric_dtype(features[c]) or pd.api.types.is_bool_dtype(features[c])
        ]
        self.categorical_columns_ = [c for c in self.feature_names_in_ if c not in self.numeric_columns_]
        features = self._coerce(features)
        empty = [c for c in self.feature_names_in_ if features[c].isna().all()]
        if empty:
            raise DataError(f"column(s) with no values at all: {', '.join(empty)}; drop or fill them")
        from sklearn.compose import ColumnTransformer  # scikit-learn loads only once there is work

        self.transformer_ = ColumnTransformer(
            [
                ("numeric", self._pipeline("numeric"), self.numeric_columns_),
                ("categorical", self._pipeline("categorical"), self.categorical_columns_),
            ],
            remainder="drop",
            verbose_feature_names_out=False,
        )
        # Overflow shows as NaN or inf in what was learned; numpy's own warnings would only confuse.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            matrix = np.asarray(self.transformer_.fit_transform(features), dtype=float)
        self._check_finite(features, matrix, fitting=True)
        return matrix

    def _leave_out_identifiers(self, features: pd.DataFrame) -> pd.DataFrame:
        """Learn ``dropped_columns_`` and return the other columns."""
        unknown = [c for c in self.keep_columns if c not in features.columns]
        if unknown:
            raise ConfigError(
                f"config key 'preprocessing.keep_columns': no feature column(s) {', '.join(unknown)} "
                "in the data"
            )
        self.dropped_columns_ = []
        if self.drop_identifiers:
            self.dropped_columns_ = identifier_columns(features.drop(columns=self.keep_columns))
        if self.dropped_columns_ and len(self.dropped_columns_) == len(features.columns):
            raise DataError(
                f"every feature column looks like an identifier ({', '.join(self.dropped_columns_)}); "
                f"keep them with {keep_columns_override(self.dropped_columns_)}"
            )
        return features.drop(columns=self.dropped_columns_)

    def _pipeline(self, kind: str) -> Any:
        """The fit-time transformers of one column kind (OmegaConf and Hydra are imported here, not
        when a deployment's preprocessor is unpickled to predict)."""
        from sklearn.pipeline import Pipeline

        from easy_mlops.config.instantiate import instantiate_steps

        if self.numeric is None and self.categorical is None:
            steps = standard_preset()[kind]
        else:
            steps = getattr(self, kind) or {}
        built = instantiate_steps(steps, f"preprocessing.{kind}", {}, object, self.trusted_modules)
        return Pipeline(built) if built else "passthrough"

    def transform(self, features: pd.DataFrame) -> np.ndarray:
        """Transform a scoring frame: one output row per input row, in input order."""
        if not hasattr(self, "transformer_"):
            raise DataError("the preprocessor is not fitted; call prepare_data(..., fit=True) first")
        features = self._coerce(self.align(features))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            matrix = np.asarray(self.transformer_.transform(features), dtype=float)
        self._check_finite(features, matrix, fitting=False)
        return matrix

    def _check_finite(self, features: pd.DataFrame, matrix: np.ndarray, fitting: bool) -> None:
        """Refuse numbers the numeric transformers cannot handle, naming their columns.

        A value like ``1e308`` overflows a scaler's variance: the learned
        statistics become NaN or inf, and so does (or silently zero) the whole
        column. A number that went in must also come out finite and within
        float32, which scikit-learn's trees compute in.
        """
        columns = self.numeric_columns_
        overflowed = np.zeros(len(columns), dtype=bool)
        if fitting:
            overflowed = overflowed_statistics(self.transformer_.named_transformers_["numeric"], len(columns))
        too_large = np.zeros(len(columns), dtype=bool)
        block = matrix[:, self.transformer_.output_indices_["numeric"]]
        if block.shape[1] == len(columns):  # one output column per input column: comparable
            given = features[columns].notna().to_numpy(dtype=bool)
            too_large = ((~np.isfinite(block) | (np.abs(block) > FLOAT32_MAX)) & given).any(axis=0)
        bad = overflowed | too_large
        if not bad.any():
            return
        names = [columns[i] for i in np.flatnonzero(bad)]
        largest = ", ".join(f"{np.nanmax(np.abs(features[c].to_numpy())):.3g}" for c in names)
        cause = "statistics overflow" if overflowed.any() else "beyond the float32 range"
        raise DataError(
            f"column(s) {', '.join(repr(c) for c in names)}: values too large for preprocessing.numeric "
            f"({cause}, max |value| {largest}); remove or rescale them"
        )

    def align(self, features: pd.DataFrame) -> pd.DataFrame:
        """Select the training columns in training order; drop extras with a warning."""
        columns = [str(column) for column in features.columns]
        missing = [c for c in self.feature_names_in_ if c not in columns]
        if missing:
            raise DataError(f"missing feature column(s): {', '.join(missing)}")
        # Identifiers left out at fit time are expected to come along: no warning for them.
        left_out = getattr(self, "dropped_columns_", [])  # absent from deployments made before
        extra = [c for c in columns if c not in self.feature_names_in_ and c not in left_out]
        if extra:
            log.warning("ignoring column(s) not seen in training: %s", ", ".join(extra))
        if len(set(columns)) != len(columns):
            repeated = sorted({c for c in columns if columns.count(c) > 1})
            raise DataError(f"duplicate column names: {', '.join(repeated)}")
        if columns == self.feature_names_in_ and list(features.columns) == columns:
            return features  # already the training layout: no copy
        return features.set_axis(columns, axis=1)[self.feature_names_in_]

    def _coerce(self, features: pd.DataFrame) -> pd.DataFrame:
        """Numbers as float64 (numeric strings accepted, inf as NaN), categories as text; others untouched."""
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
        if coerced:
            features = features.copy(deep=False)  # copy-on-write: only replaced columns are new
            for column, values in coerced.items():
                features[column] = values
        return infinite_as_missing(features, self.numeric_columns_)

    def input_schema(self) -> list[dict[str, str]]:
        """Column names and kinds the fitted preprocessor expects."""
        return [
            {"name": c, "kind": "numeric" if c in self.numeric_columns_ else "categorical"}
            for c in self.feature_names_in_
        ]


def infinite_as_missing(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """``inf`` and ``-inf`` in float ``columns`` as NaN, imputed like any missing value.

    scikit-learn refuses infinity outright, while to a user it is a failed
    division, an empty cell. One warning names the columns and counts.
    """
    counts = {}
    for column in columns:
        values = frame[column]
        if pd.api.types.is_float_dtype(values):
            infinite = int(np.isinf(values.to_numpy(dtype="float64", na_value=np.nan)).sum())
            if infinite:
                counts[column] = infinite
    if not counts:
        return frame
    log.warning(
        "column(s) %s: infinite values treated as missing (imputed like empty cells)",
        ", ".join(f"{column} ({count})" for column, count in counts.items()),
    )
    frame = frame.copy(deep=False)
    for column in counts:
        frame[column] = frame[column].replace([np.inf, -np.inf], np.nan)
    return frame


def identifier_columns(features: pd.DataFrame) -> list[str]:
    """Columns whose values (nearly) all differ: ids, not features.

    One-hot encoding one costs a column per row, slows training, bloats the
    model and makes every later prediction ask for it, for no signal.
    """
    rows = len(features)
    if rows < IDENTIFIER_MIN_ROWS:
        return []
    found = []
    for column in features.columns:
        values = features[column]
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_float_dtype(values):
            continue
        if pd.api.types.is_integer_dtype(values):
            if values.nunique() == rows:
                found.append(str(column))
        elif values.nunique() >= IDENTIFIER_SHARE * rows:
            found.append(str(column))
    return found


def keep_columns_override(columns: Iterable[str]) -> str:
    """The override that keeps ``columns`` as features."""
    return f"preprocessing.keep_columns=[{','.join(columns)}]"


def overflowed_statistics(steps: Any, width: int) -> np.ndarray:
    """Per input column: did a fitted step learn a NaN or inf (a variance that overflowed)?

    Read from each step's learned per-column float arrays (``statistics_``,
    ``mean_``, ``var_``, ``scale_``...) while the steps still see ``width`` columns.
    """
    overflowed = np.zeros(width, dtype=bool)
    for _, step in getattr(steps, "steps", []):
        if getattr(step, "n_features_in_", None) != width:
            break
        for name, learned in vars(step).items():
            per_column = isinstance(learned, np.ndarray) and learned.shape == (width,)
            if name.endswith("_") and per_column and learned.dtype.kind == "f":
                overflowed |= ~np.isfinite(learned)
    return overflowed


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


def standard_preset() -> dict[str, Any]:
    """The ``standard`` preset's transformers (conf/preprocessing/standard.yaml): what
    ``DataPreprocessor()`` uses when it is given none, as the guide's preprocessor did."""
    from omegaconf import OmegaConf

    from easy_mlops.config.compose import config_dir
    from easy_mlops.config.instantiate import as_container

    preset = OmegaConf.load(config_dir() / "preprocessing" / "standard.yaml")
    return {kind: as_container(preset[kind]) for kind in ("numeric", "categorical")}
