"""The fitted feature transformation shared by training and prediction.

:class:`Preprocessor` is a scikit-learn transformer (``fit``, ``transform``,
``get_feature_names_out``; it can head a ``Pipeline``) built from the
``preprocessing`` config (named scikit-learn transformers per column kind),
fitted once at train time, pickled into the deployment and reused unchanged at
predict time; a file pickled by an earlier version loads as it did (as the
guide's :class:`~easy_mlops.preprocessing.preprocessor.DataPreprocessor`, the
class those files name). At fit time it
learns each column's kind: numbers, flags (booleans or yes/no words, gaps
allowed: read as 1/0 and imputed like numbers), dates (ISO text or timestamps:
expanded into year, month, day of week and days since 1970) and categories.
Columns with no value at all, columns the config drops and identifier-like
columns (a customer id) are left out and not asked for later.

At predict time it reconciles the incoming frame with the training schema:
missing columns are an error naming them, extra columns are dropped with a
warning, columns are reordered, values are converted as at fit time and no
row is ever dropped. ``inf`` in a numeric column is a missing value (imputed),
said in one warning; a number too large for the numeric transformers is an
error naming its column.
"""

import copy
import dataclasses
import inspect
import logging
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError

from easy_mlops.columns import (
    as_dates,
    as_flags,
    date_parts,
    first_bad_row,
    has_time_of_day,
    is_boolean_column,
    is_date_column,
)
from easy_mlops.errors import ConfigError, DataError

log = logging.getLogger(__name__)

# The largest number scikit-learn's tree models can split on (they compute in float32).
FLOAT32_MAX = float(np.finfo(np.float32).max)
# Identifier-like: a text column with at least this share of distinct values, or an integer
# column whose values are all distinct and whose name or values say it counts things (an id,
# a sequence), in at least IDENTIFIER_MIN_ROWS rows. Never a float column: measurements are
# often all distinct, and so are integer ones (an amount in cents).
IDENTIFIER_SHARE = 0.95
IDENTIFIER_MIN_ROWS = 20
COUNTER_DENSITY = 0.5
# ...and names that say id: customer_id, AccountNo, order_number (camelCase split first).
IDENTIFIER_NAME = re.compile(r"(?:^|[^a-z])(?:id|ids|key|uuid|guid|no|nr|num|number|code|index|idx)$")

# Why a column is not a feature (``left_out_``).
CONFIGURED, EMPTY, IDENTIFIER = "preprocessing.drop_columns", "no values", "identifier"
# What a fitted preprocessor pickled before these existed is read with: no flags, dates or columns
# left out were learned then (see ``upgraded_state``).
LEARNED_SINCE = {
    "boolean_columns_": [],
    "blank_flags_": {},
    "date_columns_": [],
    "date_hours_": [],
    "left_out_": {},
    "dropped_columns_": [],
    "distinct_integers_": [],
}


class PreprocessorNotFitted(DataError, NotFittedError):
    """Transforming before fitting: one line for the CLI (a :class:`DataError`), and the
    :class:`~sklearn.exceptions.NotFittedError` scikit-learn's own tools expect."""


class Preprocessor(TransformerMixin, BaseEstimator):
    """Impute, encode and scale a table the way it was done at train time: a scikit-learn transformer.

    The constructor only stores its parameters, so ``get_params``,
    ``set_params`` and ``clone`` work and a ``Pipeline`` can hold it; ``fit``
    learns from the feature columns (the caller splits off the target), and learned state
    ends in ``_``: ``feature_names_in_`` and ``n_features_in_`` (every column
    ``fit`` was given, as scikit-learn defines them), ``feature_columns_``
    (those kept as features, in order: the input schema a scoring frame must
    have), ``numeric_columns_``, ``boolean_columns_``, ``date_columns_`` and
    ``categorical_columns_`` (the kinds), the fitted ``transformer_``, and
    ``left_out_`` (column -> why it is not a feature: named in
    ``drop_columns``, no values, or identifier-like unless ``drop_identifiers``
    is off or it is in ``keep_columns``), also listed as ``dropped_columns_``;
    ``distinct_integers_`` are all-distinct integer columns kept as features.
    A flag column holding one value only (a checkbox exported as ``TRUE`` or
    nothing) reads its empty cells as the other value (``blank_flags_``); any
    other gap is imputed.
    Fitting does not warn about any of them: the caller reports them once, as
    the trainer does for a whole run of folds and splits.
    """

    def __init__(
        self,
        numeric: dict[str, Any] | None = None,
        categorical: dict[str, Any] | None = None,
        trusted_modules: Iterable[str] = (),
        drop_identifiers: bool = True,
        keep_columns: Iterable[str] = (),
        drop_columns: Iterable[str] = (),
    ) -> None:
        self.numeric = numeric  # None for both: the standard preset's transformers
        self.categorical = categorical
        self.trusted_modules = trusted_modules
        self.drop_identifiers = drop_identifiers
        self.keep_columns = keep_columns
        self.drop_columns = drop_columns

    _how_to_fit = "fit(X)"  # what the not-fitted error tells the caller to do

    @classmethod
    def from_config(cls, cfg: Any, trusted_modules: Iterable[str] = ()) -> "Preprocessor":
        """Build from the typed ``preprocessing`` section (or a plain dict of its keys)."""
        container = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else dict(cfg or {})
        return cls(
            container.get("numeric"),
            container.get("categorical"),
            trusted_modules,
            drop_identifiers=container.get("drop_identifiers", True),
            keep_columns=container.get("keep_columns") or (),
            drop_columns=container.get("drop_columns") or (),
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle (joblib) or rebuild (skops) a preprocessor written by any earlier version."""
        super().__setstate__(upgraded_state(state))

    def __sklearn_is_fitted__(self) -> bool:
        """Fitted once the transformers are: a fit that failed half-way leaves none."""
        return hasattr(self, "transformer_")

    def fit(self, X: pd.DataFrame, y: Any = None) -> "Preprocessor":
        """Learn the columns' kinds and the transformers from the feature frame ``X`` (``y`` is unused)."""
        self._fit(X)
        return self

    def fit_transform(self, X: pd.DataFrame, y: Any = None) -> np.ndarray:
        """Fit on ``X`` and return it transformed, in one pass over the transformers."""
        return self._fit(X)

    def _fit(self, frame: pd.DataFrame) -> np.ndarray:
        """Learn everything from ``frame`` (the target already split off) and return it transformed."""
        require_frame(frame)
        # Every column given, left out or not, as text: names are strings throughout (a frame with
        # integer column names is read the same way), where scikit-learn would record none.
        self.feature_names_in_ = np.asarray([str(column) for column in frame.columns], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        features = self._choose_columns(frame)
        self.feature_columns_ = [str(column) for column in features.columns]
        self.date_hours_ = [c for c in self.date_columns_ if has_time_of_day(as_dates(features[c])[0])]
        features = self._canonical(features)
        from sklearn.compose import ColumnTransformer  # loads only once there is work

        transformer = ColumnTransformer(
            [
                ("numeric", self._pipeline("numeric"), self._numeric_inputs(features)),
                ("categorical", self._pipeline("categorical"), self.categorical_columns_),
            ],
            remainder="drop",
            verbose_feature_names_out=False,
        )
        # Overflow shows as NaN or inf in what was learned; numpy's own warnings would only confuse.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            matrix = np.asarray(transformer.fit_transform(features), dtype=float)
        check_finite(transformer, features, matrix, fitting=True)
        self.transformer_ = transformer  # last: only a complete fit counts as fitted
        return matrix

    def _choose_columns(self, features: pd.DataFrame) -> pd.DataFrame:
        """Learn each column's kind and ``left_out_``; return the feature columns."""
        keep_columns = [str(column) for column in self.keep_columns]
        drop_columns = [str(column) for column in self.drop_columns]
        for key, named in (("keep_columns", keep_columns), ("drop_columns", drop_columns)):
            unknown = [c for c in named if c not in features.columns]
            if unknown:
                raise ConfigError(
                    f"config key 'preprocessing.{key}': no feature column(s) {', '.join(unknown)} in the data"
                )
        self.left_out_ = dict.fromkeys(drop_columns, CONFIGURED)
        features = features.drop(columns=drop_columns)
        self.left_out_.update((str(c), EMPTY) for c in features.columns if features[c].isna().all())
        kinds = {str(c): column_kind(features[c]) for c in features.columns if str(c) not in self.left_out_}
        self.distinct_integers_ = []
        if self.drop_identifiers and len(features) >= IDENTIFIER_MIN_ROWS:
            for column, kind in kinds.items():
                if column in keep_columns or not all_distinct(features[column], kind):
                    continue
                if kind == "categorical" or looks_like_a_counter(column, features[column]):
                    self.left_out_[column] = IDENTIFIER
                else:
                    self.distinct_integers_.append(column)
        self.dropped_columns_ = list(self.left_out_)
        kept = [c for c in kinds if c not in self.left_out_]
        if not kept:
            ids = self.identifiers
            keep = f"; keep identifiers with {keep_columns_override(ids)}" if ids else ""
            raise DataError(f"no feature column left: {describe_left_out(self.left_out_)}{keep}")
        for kind in COLUMN_KINDS:
            setattr(self, f"{kind}_columns_", [c for c in kept if kinds[c] == kind])
        self.blank_flags_ = {}
        for column in self.boolean_columns_:
            present = as_flags(features[column])[0].dropna().unique()
            if len(present) == 1 and features[column].isna().any():
                self.blank_flags_[column] = 1.0 - float(present[0])
        return features[kept]

    @property
    def identifiers(self) -> list[str]:
        """The columns left out as identifier-like."""
        return [c for c, why in getattr(self, "left_out_", {}).items() if why == IDENTIFIER]

    def _numeric_inputs(self, canonical: pd.DataFrame) -> list[str]:
        """What the numeric transformers get: numbers, flags as 1/0 and the parts of each date."""
        parts = [c for c in canonical.columns if c not in self.feature_columns_]
        return [*self.numeric_columns_, *self.boolean_columns_, *parts]

    def _pipeline(self, kind: str) -> Any:
        """The fit-time transformers of one column kind (OmegaConf and Hydra are imported here, not
        when a deployment's preprocessor is unpickled to predict)."""
        from sklearn.pipeline import Pipeline

        from easy_mlops.config.instantiate import instantiate_steps

        if self.numeric is None and self.categorical is None:
            steps = standard_preset()[kind]
        else:
            steps = getattr(self, kind) or {}
        built = instantiate_steps(steps, f"preprocessing.{kind}", {}, object, tuple(self.trusted_modules))
        return Pipeline(built) if built else "passthrough"

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Transform a scoring frame: one output row per input row, in input order."""
        self._check_fitted()
        require_frame(X)
        features = self._canonical(self.align(X))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            matrix = np.asarray(self.transformer_.transform(features), dtype=float)
        check_finite(self.transformer_, features, matrix, fitting=False)
        return matrix

    def get_feature_names_out(self, input_features: Iterable[str] | None = None) -> np.ndarray:
        """The names of :meth:`transform`'s output columns, the model's inputs: numbers and flags by
        name, each date's parts (``signup.year``), one-hot columns (``plan_pro``)."""
        self._check_fitted()
        known = getattr(self, "feature_names_in_", None)
        if input_features is not None and known is not None and list(input_features) != list(known):
            raise ValueError(f"input_features is not equal to feature_names_in_: {list(known)}")
        return self.transformer_.get_feature_names_out()

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise PreprocessorNotFitted(f"the preprocessor is not fitted; call {self._how_to_fit} first")

    def align(self, features: pd.DataFrame) -> pd.DataFrame:
        """Select the training columns in training order; drop extras with a warning."""
        columns = [str(column) for column in features.columns]
        missing = [c for c in self.feature_columns_ if c not in columns]
        if missing:
            raise DataError(f"missing feature column(s): {', '.join(missing)}")
        # Columns left out at fit time are expected to come along: no warning for them.
        extra = [c for c in columns if c not in self.feature_columns_ and c not in self.dropped_columns_]
        if extra:
            log.warning("ignoring column(s) not seen in training: %s", ", ".join(extra))
        if len(set(columns)) != len(columns):
            repeated = sorted({c for c in columns if columns.count(c) > 1})
            raise DataError(f"duplicate column names: {', '.join(repeated)}")
        if columns == self.feature_columns_ and list(features.columns) == columns:
            return features  # already the training layout: no copy
        return features.set_axis(columns, axis=1)[self.feature_columns_]

    def _canonical(self, features: pd.DataFrame) -> pd.DataFrame:
        """What the transformers read: numbers as float64 (numeric strings accepted, inf as NaN),
        flags as 1.0/0.0, each date as its numeric parts (``signup.year``...), categories as text."""
        converted: dict[str, pd.Series] = {}
        for column in self.numeric_columns_:
            values = features[column]
            if values.dtype == "float64":
                continue
            if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
                converted[column] = values.astype("float64")
                continue
            numbers = pd.to_numeric(values, errors="coerce")
            refuse_unreadable(column, values, numbers.isna() & values.notna(), "must be numeric")
            converted[column] = numbers.astype("float64")
        for column in self.boolean_columns_:
            flags, bad = as_flags(features[column])
            refuse_unreadable(column, features[column], bad, "must be true/false or yes/no")
            blank = self.blank_flags_.get(column)
            converted[column] = flags if blank is None else flags.fillna(blank)
        for column in self.categorical_columns_:
            converted[column] = as_text(features[column])
        dates = {}
        for column in self.date_columns_:
            stamps, bad = as_dates(features[column])
            refuse_unreadable(column, features[column], bad, "must be an ISO date (2024-01-31)")
            parts = date_parts(stamps, with_hour=column in self.date_hours_)
            dates.update((f"{column}.{part}", values) for part, values in parts.items())
        if converted or dates:
            features = features.copy(deep=False)  # copy-on-write: only replaced columns are new
            for column, values in converted.items():
                features[column] = values
            if dates:
                features = pd.concat([features.drop(columns=self.date_columns_), pd.DataFrame(dates)], axis=1)
        return infinite_as_missing(features, self.numeric_columns_)

    def column_kinds(self) -> dict[str, str]:
        """Each feature column's kind: numeric, boolean, date or categorical."""
        kinds = {c: kind for kind in COLUMN_KINDS for c in getattr(self, f"{kind}_columns_")}
        return {c: kinds[c] for c in self.feature_columns_}

    def input_schema(self) -> list[dict[str, str]]:
        """Column names and kinds the fitted preprocessor expects."""
        return [{"name": c, "kind": kind} for c, kind in self.column_kinds().items()]


COLUMN_KINDS = ("numeric", "boolean", "date", "categorical")


def upgraded_state(state: dict[str, Any]) -> dict[str, Any]:
    """A pickled preprocessor's attributes as this version names them (a current one's are unchanged).

    Deployment files are never rewritten, so every earlier layout must load and
    predict as it did. Before the preprocessor was a scikit-learn estimator its
    ``feature_names_in_`` held the feature columns (now ``feature_columns_``);
    older ones also lack parameters and
    learned state added since (:data:`LEARNED_SINCE`). The columns fit was
    given are the feature columns plus the left-out ones, but the order they
    came in was not recorded: ``feature_names_in_`` is set only when none was
    left out (scikit-learn too leaves it unset when it does not know the names).
    """
    state = dict(state)
    for name, parameter in inspect.signature(Preprocessor.__init__).parameters.items():
        if name != "self":
            state.setdefault(name, parameter.default)
    if "transformer_" in state and "feature_columns_" not in state:
        for name, default in LEARNED_SINCE.items():
            state.setdefault(name, copy.copy(default))
        columns = list(state.pop("feature_names_in_"))
        left_out = [column for column in state["left_out_"] if column not in columns]
        state["feature_columns_"] = columns
        state["n_features_in_"] = len(columns) + len(left_out)
        if not left_out:
            state["feature_names_in_"] = np.asarray(columns, dtype=object)
    return state


def require_frame(frame: Any) -> None:
    """Columns are read by name: anything but a DataFrame is a :class:`DataError` saying so."""
    if not isinstance(frame, pd.DataFrame):
        raise DataError(
            f"the preprocessor reads a pandas DataFrame (columns by name), not {type(frame).__name__}"
        )


def check_finite(transformer: Any, features: pd.DataFrame, matrix: np.ndarray, fitting: bool) -> None:
    """Refuse numbers the numeric transformers cannot handle, naming their columns.

    A value like ``1e308`` overflows a scaler's variance: the learned
    statistics become NaN or inf, and so does (or silently zero) the whole
    column. A number that went in must also come out finite and within
    float32, which scikit-learn's trees compute in.
    """
    columns = dict((name, columns) for name, _, columns in transformer.transformers)["numeric"]
    overflowed = np.zeros(len(columns), dtype=bool)
    if fitting:
        overflowed = overflowed_statistics(transformer.named_transformers_["numeric"], len(columns))
    too_large = np.zeros(len(columns), dtype=bool)
    block = matrix[:, transformer.output_indices_["numeric"]]
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


def column_kind(values: pd.Series) -> str:
    """How a column is read: flags and dates first (text says so), then numbers, else categories."""
    if is_boolean_column(values):
        return "boolean"
    if pd.api.types.is_numeric_dtype(values):
        return "numeric"
    if is_date_column(values):
        return "date"
    return "categorical"


def refuse_unreadable(column: str, values: pd.Series, bad: pd.Series, should: str) -> None:
    """A :class:`DataError` naming the first value of ``column`` that cannot be read as it was at fit time."""
    if bad.any():
        position, row = first_bad_row(bad)
        raise DataError(f"column '{column}' {should}, found {values.iloc[position]!r} in row {row}")


def all_distinct(values: pd.Series, kind: str) -> bool:
    """Whether (nearly) every value differs: text at least IDENTIFIER_SHARE, integers all."""
    if kind == "categorical":
        return values.nunique() >= IDENTIFIER_SHARE * len(values)
    return kind == "numeric" and pd.api.types.is_integer_dtype(values) and values.nunique() == len(values)


def looks_like_a_counter(column: str, values: pd.Series) -> bool:
    """An all-distinct integer column that is an id: its name says so (``customer_id``, ``AccountNo``),
    or its values are a sequence with gaps (they fill at least COUNTER_DENSITY of their range: the
    training split of 1, 2, 3, ... does; amounts in cents do not)."""
    name = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", column).lower()
    if IDENTIFIER_NAME.search(name):
        return True
    return len(values) >= COUNTER_DENSITY * (int(values.max()) - int(values.min()) + 1)


def describe_left_out(left_out: dict[str, str]) -> str:
    """``a, b (no values); c (identifier)``: the left-out columns grouped by reason."""
    by_reason: dict[str, list[str]] = {}
    for column, reason in left_out.items():
        by_reason.setdefault(reason, []).append(column)
    return "; ".join(f"{', '.join(columns)} ({reason})" for reason, columns in by_reason.items())


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
    # A copy: pandas may hand out its own read-only buffer.
    as_objects = np.array(values.to_numpy(dtype=object, na_value=np.nan), dtype=object)
    if pd.api.types.infer_dtype(as_objects, skipna=True) not in ("string", "empty"):
        present = pd.notna(as_objects)
        as_objects[present] = [str(value) for value in as_objects[present]]
    # dtype=object: pandas would otherwise infer str again and scikit-learn convert it back.
    return pd.Series(as_objects, index=values.index, name=values.name, dtype=object)


def standard_preset() -> dict[str, Any]:
    """The ``standard`` preset's transformers (conf/preprocessing/standard.yaml): what
    ``Preprocessor()`` uses when it is given none, as the guide's preprocessor did."""
    import yaml

    from easy_mlops.config.compose import config_dir

    preset = yaml.safe_load((config_dir() / "preprocessing" / "standard.yaml").read_text(encoding="utf-8"))
    return {kind: preset[kind] for kind in ("numeric", "categorical")}
