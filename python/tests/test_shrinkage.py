"""Many predictors under one regularised horseshoe: ``cbind(...)`` terms and their prior."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from targeting.core import modeling
from targeting.core.linpred import LinearPredictor
from targeting.core.predict import predict_draws
from targeting.core.specs import SpecError, load_spec

pytestmark = pytest.mark.slow  # fits a model

N_NULL = 8


def _frame(n: int = 4000, seed: int = 2) -> pd.DataFrame:
    """Two predictors that matter (+1.0 and -0.7 per SD) and eight that do not."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2 + N_NULL))
    eta = -1.2 + 1.0 * x[:, 0] - 0.7 * x[:, 1]
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    frame["client_id"] = np.arange(n)
    return frame


def _spec(tmp_path: Path, prior: dict) -> Path:
    terms = ", ".join(f"scale(x{i})" for i in range(2 + N_NULL))
    raw = {
        "name": "hs",
        "relation": "t.rows",
        "id": "client_id",
        "label": "y",
        "formula": f"y ~ cbind({terms})",
        "priors": {"cbind": prior},
        "sampler": {
            "method": "nutpie",
            "draws": 300,
            "tune": 400,
            "chains": 2,
            "seed": 5,
            "target_accept": 0.99,
        },
    }
    path = tmp_path / f"hs_{len(list(tmp_path.glob('hs_*')))}.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("prior", "null_bound", "max_divergences"),
    [
        # the horseshoe's funnel (tau near 0) gives an occasional divergent transition whose
        # count depends on the processor's floating point for one seed: 0 or 1 of these 600
        # on the machines seen (5 of 10 seeds with 1 on one of them); `targeting fit` flags
        # any divergence in the run's diagnostics either way
        ({"dist": "RegularizedHorseshoe", "scale_global": 0.01}, 0.06, 3),
        ({"dist": "SharedNormal", "scale": 1}, 0.1, 0),
    ],
)
def test_shrinkage_keeps_the_real_effects_and_shrinks_the_rest(
    tmp_path: Path, prior: dict, null_bound: float, max_divergences: int
) -> None:
    frame = _frame()
    spec = load_spec(_spec(tmp_path, prior))
    model = modeling.build_model(spec, frame)
    idata, _ = modeling.fit_model(model, spec, progress=False)
    divergences = int(idata.sample_stats["diverging"].sum())
    assert divergences <= max_divergences
    # the run's diagnostics name them when there are any
    assert ("divergent transitions" in modeling.diagnose(idata, spec).message) == (divergences > 0)
    beta = idata.posterior["cbind"].mean(("chain", "draw")).to_numpy()
    assert beta.shape == (2 + N_NULL,)
    # the coefficients are named after the bound columns
    assert list(idata.posterior["cbind_dim"].values) == [f"scale(x{i})" for i in range(2 + N_NULL)]
    assert beta[0] == pytest.approx(1.0, abs=0.15) and beta[1] == pytest.approx(-0.7, abs=0.15), beta
    assert np.abs(beta[2:]).max() < null_bound, beta  # shrunk towards 0
    # the fast scoring engine reads the bound term like any other
    fast = LinearPredictor(model, idata.posterior).summary(frame.iloc[:300])
    ref = predict_draws(model, idata, frame.iloc[:300], True).mean(axis=(0, 1))
    np.testing.assert_allclose(fast["p_mean"], ref, rtol=1e-9)


@pytest.mark.parametrize(
    ("prior", "expected"),
    [
        ({"dist": "RegularizedHorseshoe"}, "RegularizedHorseshoe needs scale_global"),
        ({"dist": "RegularizedHorseshoe", "scale_global": -1}, "scale_global must be a positive number"),
        ({"dist": "RegularizedHorseshoe", "scale_global": 0.1, "slab": 2}, "has no parameter(s) ['slab']"),
        ({"dist": "SharedNormal", "scale": 0}, "SharedNormal scale must be a positive number"),
    ],
)
def test_bad_shrinkage_priors_are_refused(tmp_path: Path, prior: dict, expected: str) -> None:
    spec = load_spec(_spec(tmp_path, prior))
    with pytest.raises(SpecError, match=None) as err:
        modeling.build_model(spec, _frame(200))
    assert expected in str(err.value)
