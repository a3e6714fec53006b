"""Non-linear terms and shrunk interactions beat the baselines on planted non-linear effects.

A generated response table (not the apparel generator's; 4,000 members) carries a U-shaped
effect of age, a threshold in tenure and one interaction a*b among three candidate pairs.
A spec with splines and ``pairs()`` (every pairwise product of a, b and c under one shared
shrinkage prior) is cross-validated by client next to logistic regression and gradient
boosting trained on the same rows and folds. 4,000 rows, not 2,000: even the true
probabilities have an ECE of 0.025 on 2,000 rows with ten bins (0.016 on 4,000), so a
0.02 bound on 2,000 rows would test the noise.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from targeting.cli import main as cli
from targeting.models import runs

from .conftest import table_warehouse

pytestmark = pytest.mark.slow  # fits models

ROWS = 4000
FORMULA = (
    "joined ~ bs(age, df=5) + bs(tenure, df=5) + scale(a) + scale(b) + scale(c)"
    " + pairs(scale(a), scale(b), scale(c))"
)


def _members(n: int = ROWS, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.uniform(18, 75, n)
    tenure = rng.exponential(3.0, n)
    a, b, c = rng.normal(size=(3, n))
    eta = -2.0 + 0.004 * (age - 45) ** 2 + 1.5 * (tenure > 2.0) + 0.9 * a * b + 0.3 * a
    joined = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(int)
    code = [f"M{i:05d}" for i in range(n)]
    return pd.DataFrame(
        {"member": code, "age": age, "tenure": tenure, "a": a, "b": b, "c": c, "joined": joined}
    )


def test_splines_and_shrunk_pairs_beat_logistic_and_gradient_boosting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = table_warehouse(tmp_path, monkeypatch, "crm.responses", _members(), "responses")
    spec = tmp_path / "planted.yml"
    sampler = {"method": "nutpie", "backend": "jax", "seed": 3, "draws": 200, "tune": 200, "chains": 2}
    raw = {"name": "planted", "relation": "crm.responses", "id": "member", "label": "joined"}
    spec.write_text(yaml.safe_dump({**raw, "formula": FORMULA, "sampler": sampler}))
    assert cli.main(["fit", "--spec", str(spec), "--db", str(db), "--quiet"]) == 0

    # the shared prior keeps the one real interaction and shrinks the two null pairs
    pairs = runs.load_run("latest").posterior().posterior["pairs"].mean(("chain", "draw"))
    assert list(pairs["pairs_dim"].values) == ["scale(a):scale(b)", "scale(a):scale(c)", "scale(b):scale(c)"]
    assert pairs.sel(pairs_dim="scale(a):scale(b)") > 0.6
    assert (
        abs(pairs.sel(pairs_dim="scale(a):scale(c)")) < 0.15
        and abs(pairs.sel(pairs_dim="scale(b):scale(c)")) < 0.15
    )

    args = ["evaluate", "--db", str(db), "--cv", "3", "--no-report", "--bootstrap", "20", "--quiet"]
    assert cli.main([*args, "--allow-failed-diagnostics"]) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select model, metric, value from ml.model_evaluations where split = 'cv_3fold'"
        ).fetchall()
    got = {(model, metric): value for model, metric, value in rows}
    bayes, logistic, boosting = "bayesian", "logistic_regression", "gradient_boosting"
    assert got[(bayes, "roc_auc")] > got[(logistic, "roc_auc")] + 0.1, got
    assert got[(bayes, "roc_auc")] >= got[(boosting, "roc_auc")], got
    assert got[(bayes, "log_loss")] < min(got[(logistic, "log_loss")], got[(boosting, "log_loss")]), got
    assert got[(bayes, "ece")] <= 0.02, got


@pytest.mark.parametrize(
    "formula", ["y ~ cbind(scale(a))", "y ~ cbind(a, b)", "y ~ pairs(a, b)", "y ~ pairs(a, b, c)"]
)
def test_bound_terms_without_a_spec_prior_build_with_the_default(formula: str) -> None:
    """One column or several, a ``cbind`` or ``pairs`` term without a prior builds (Bambi 0.17's
    own default fails on a multi-column term); a pair of columns is one coefficient."""
    from targeting.core.modeling import build_model
    from targeting.core.specs import ModelSpec

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"a": rng.normal(size=200), "b": 3 * rng.normal(size=200), "c": rng.normal(size=200)}
    )
    frame["y"] = (rng.random(200) < 0.4).astype(int)
    model = build_model(ModelSpec(name="t", relation="x.t", id=None, label="y", formula=formula), frame)
    (term,) = model.components["p"].common_terms.values()
    columns = 1 if formula in ("y ~ cbind(scale(a))", "y ~ pairs(a, b)") else (2 if "cbind" in formula else 3)
    assert np.asarray(term.data).reshape(len(frame), -1).shape[1] == columns
    assert term.prior.name == ("SharedNormal" if "pairs" in formula else "Normal")
