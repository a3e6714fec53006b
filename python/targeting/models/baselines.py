"""Non-Bayesian reference models (scikit-learn) built from a spec's table, never from its keys.

Which columns a baseline may use is decided from the spec and the data, not from column
names: every column of the relation except the id, the label, ``as_of`` and the spec's
``exclude`` list. Numbers and booleans are numeric features (non-negative columns with more
than two values enter as log1p(x); missing values the training median plus a missing
flag); text columns
with at most :data:`MAX_LEVELS` distinct values are one-hot encoded (a level unseen in
training encodes as all zeros); other columns (dates, free text, ids) are left out and
listed with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

#: Text columns with more distinct values than this are not one-hot encoded (ids, free text).
MAX_LEVELS = 50
#: Inverse L2 strength of the logistic regression baseline (on standardised features).
LOGISTIC_C = 0.1
#: The recency/frequency rule baseline reads these columns; it runs only where both exist.
RULE_COLUMNS = ("orders_365d", "days_since_last_order")


@dataclass(frozen=True)
class BaselineFeatures:
    """The columns a baseline uses, by kind, and the columns it left out with the reason."""

    numeric: list[str]
    categorical: list[str]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """Every feature column, numeric first."""
        return [*self.numeric, *self.categorical]


def baseline_features(frame: pd.DataFrame, never: set[str]) -> BaselineFeatures:
    """Sort ``frame``'s columns into numeric and categorical features.

    Parameters
    ----------
    frame
        Training rows.
    never
        Columns that are never features: the id, the label, ``as_of`` and ``exclude``.

    """
    numeric, categorical, skipped = [], [], {}
    for col in frame.columns:
        if col in never:
            continue
        series = frame[col]
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            numeric.append(col)
        elif pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
            levels = series.nunique(dropna=True)
            if levels <= MAX_LEVELS:
                categorical.append(col)
            else:
                skipped[col] = f"text with {levels:,} distinct values (more than {MAX_LEVELS})"
        else:
            skipped[col] = f"type {series.dtype} is neither a number nor text"
    return BaselineFeatures(numeric, categorical, skipped)


class NonNegativeLog1p(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """``log1p`` on every column that is non-negative with more than two values in training.

    Counts, amounts and day counts are right-skewed; on the log scale their outliers stop
    dominating a linear model (rates in [0, 1] barely change; 0/1 flags are kept). No column
    names needed: on the apparel mart this gave the logistic baseline ROC-AUC 0.773 out of
    time at scale 1, against 0.761 with no transform.
    """

    def fit(self, x: np.ndarray, y: object = None) -> NonNegativeLog1p:
        """Find the non-negative, non-binary columns."""
        arr = np.asarray(x, dtype=float)
        with np.errstate(all="ignore"):
            lows = np.nanmin(arr, axis=0) if len(arr) else np.zeros(arr.shape[1])
        distinct = np.array([len(np.unique(col[~np.isnan(col)])[:3]) for col in arr.T])
        self.log_ = (lows >= 0) & (distinct > 2)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Return the columns with ``log1p`` applied to those found in ``fit``."""
        arr = np.array(x, dtype=float)
        arr[:, self.log_] = np.log1p(np.clip(arr[:, self.log_], 0, None))
        return arr


def preprocessor(features: BaselineFeatures) -> ColumnTransformer:
    """Build the preprocessing: numeric log1p, median imputation, missing flags, scaling; text one-hot."""
    numeric = make_pipeline(
        NonNegativeLog1p(), SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
    )
    categorical = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="(missing)"),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    )
    parts = []
    if features.numeric:
        parts.append(("numeric", numeric, features.numeric))
    if features.categorical:
        parts.append(("categorical", categorical, features.categorical))
    return ColumnTransformer(parts, remainder="drop")


def _x(frame: pd.DataFrame, features: BaselineFeatures) -> pd.DataFrame:
    x = frame[features.columns].copy()
    for col in features.numeric:
        x[col] = pd.to_numeric(x[col].astype("float64"), errors="coerce")
    for col in features.categorical:
        values = x[col]
        x[col] = values.astype(str).astype(object).where(values.notna(), np.nan)
    return x


@dataclass
class Baseline:
    """A fitted baseline: its feature columns and scikit-learn pipeline."""

    features: BaselineFeatures
    pipeline: Pipeline

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """P(label = 1) for ``frame``'s rows."""
        p: np.ndarray = self.pipeline.predict_proba(_x(frame, self.features))[:, 1]
        return p


def _fit(estimator: object, x: pd.DataFrame, y: pd.Series, features: BaselineFeatures) -> Baseline:
    pipe = make_pipeline(preprocessor(features), estimator)
    pipe.fit(x, y)
    return Baseline(features, pipe)


def fit_logistic(
    train: pd.DataFrame, features: BaselineFeatures, label: str, c: float = LOGISTIC_C
) -> Baseline:
    """Fit a standardised, L2-regularised logistic regression on ``features``."""
    model = LogisticRegression(C=c, max_iter=5000)
    return _fit(model, _x(train, features), train[label].astype(int), features)


def rule_score(frame: pd.DataFrame) -> np.ndarray:
    """Recency/frequency rule: more recent orders and more of them rank higher.

    ``log1p(orders_365d) - log1p(days_since_last_order) / 2``, squashed to (0, 1) with a
    logistic so log loss and calibration can be computed (they are not the rule's point).
    Only for tables with both :data:`RULE_COLUMNS`.
    """
    orders = np.log1p(frame[RULE_COLUMNS[0]].astype(float).fillna(0).to_numpy())
    recency = np.log1p(frame[RULE_COLUMNS[1]].astype(float).fillna(999).to_numpy())
    raw = orders - recency / 2
    return 1 / (1 + np.exp(-(raw - 3.5)))


def fit_baselines(
    train: pd.DataFrame, features: BaselineFeatures, label: str, seed: int
) -> dict[str, Baseline]:
    """Fit the logistic regression and gradient boosting baselines on the same rows."""
    if label in features.columns:  # the guard the tests pin: the label is never a feature
        raise ValueError(f"label {label!r} is among the baseline features")
    x, y = _x(train, features), train[label].astype(int)  # prepared once for both models
    gbm = HistGradientBoostingClassifier(
        max_iter=300, learning_rate=0.05, max_leaf_nodes=15, l2_regularization=1.0, random_state=seed
    )
    return {
        "logistic_regression": _fit(LogisticRegression(C=LOGISTIC_C, max_iter=5000), x, y, features),
        "gradient_boosting": _fit(gbm, x, y, features),
    }


def predict_baselines(models: dict[str, Baseline], test: pd.DataFrame) -> dict[str, np.ndarray]:
    """Probabilities of every baseline for ``test`` (the rule where its columns exist).

    The models of :func:`fit_baselines` share their features: ``test`` is prepared once.
    """
    out = {}
    if all(c in test.columns for c in RULE_COLUMNS):
        out["rule_recency_frequency"] = rule_score(test)
    prepared: dict[int, pd.DataFrame] = {}
    for name, model in models.items():
        key = id(model.features)
        if key not in prepared:
            prepared[key] = _x(test, model.features)
        out[name] = model.pipeline.predict_proba(prepared[key])[:, 1]
    return out
