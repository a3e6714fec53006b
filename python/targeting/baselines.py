"""Non-Bayesian reference models on the feature mart (scikit-learn)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

#: Columns that are keys, labels or text, never numeric predictors.
NON_FEATURES = {
    "client_id",
    "as_of_date",
    "is_scoring_cutoff",
    "favourite_root_category",
    "favourite_channel",
    "purchased_next_90d",
    "label_source",
    "label_window_end",
    "orders_in_window",
    "revenue_in_window",
}
_HEAVY_TAILED = (
    "orders",
    "revenue",
    "sends",
    "opens",
    "clicks",
    "units",
    "lines",
    "message_purchases",
)
_RECENCY = (
    "days_since_last_order",
    "days_since_first_order",
    "days_since_last_open",
    "days_since_last_click",
    "tenure_days",
)


def design_matrix(features: pd.DataFrame) -> pd.DataFrame:
    """Turn mart rows into a numeric matrix the way a careful analyst would.

    Counts and money get ``log1p``; recency gets ``log1p`` with missing (no history) set to
    a large value, the ``has_`` flags carrying the difference; booleans become 0/1.

    Parameters
    ----------
    features
        Rows of ``customer_features`` (extra label columns are ignored).

    Returns
    -------
    pandas.DataFrame
        One float column per predictor, no missing values.

    """
    cols = [c for c in features.columns if c not in NON_FEATURES]
    x = features[cols].astype(float)
    for col in cols:
        if col.startswith(_HEAVY_TAILED):
            x[col] = np.log1p(x[col].clip(lower=0))
    for col in _RECENCY:
        if col in x:
            x[col] = np.log1p(x[col].fillna(999.0).clip(lower=0))
    return x.fillna(-1.0)


def fit_logistic(train: pd.DataFrame, label: str = "purchased_next_90d", c: float = 0.1) -> Pipeline:
    """Fit a standardised, L2-regularised logistic regression on mart rows.

    Parameters
    ----------
    train
        Mart rows with the label column.
    label
        Name of the 0/1 label column.
    c
        Inverse regularisation strength.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Fitted scaler + logistic regression; ``predict_proba(design_matrix(rows))``.

    """
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))
    model.fit(design_matrix(train), train[label].astype(int))
    return model
