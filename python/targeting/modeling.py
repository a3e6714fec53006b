"""Building and fitting the Bambi model of a spec, with input checks and diagnostics."""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from targeting._compat import patch_formulae_lazycall_eq
from targeting.specs import ModelSpec, SpecError


def decay(days: Any, half_days: float) -> Any:
    """``exp(-days / half_days)``: 1 today, fading with age (missing days give 0).

    Use for effects that fade with time, e.g. ``scale(decay(days_since_first_order, 30))``:
    clients in their first month buy far more often than later.
    """
    x = np.asarray(days, dtype=float)
    return np.where(np.isnan(x), 0.0, np.exp(-np.nan_to_num(x, nan=0.0) / float(half_days)))


#: Functions a formula may call besides Bambi's own (scale, center, C, ...).
FORMULA_NAMESPACE: dict[str, Any] = {
    "decay": decay,
    "log1p": np.log1p,
    "log": np.log,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "clip": np.clip,
    "minimum": np.minimum,
    "maximum": np.maximum,
}
MAX_R_HAT = 1.01
MIN_ESS_PER_CHAIN = 100


class DataError(ValueError):
    """The training data cannot be used for the spec (empty, non-binary label, ...)."""


@dataclass(frozen=True)
class FormulaColumns:
    """What a formula reads: predictor columns and grouping factors."""

    predictors: list[str]
    group_factors: list[str]


def formula_columns(spec: ModelSpec) -> FormulaColumns:
    """Parse the formula and list the columns it needs.

    Raises
    ------
    SpecError
        When the formula does not parse.

    """
    import formulae

    patch_formulae_lazycall_eq()
    try:
        desc = formulae.model_description(spec.formula)
    except Exception as exc:  # formulae raises several parser exception types
        raise SpecError(f"{spec.path or spec.name}: formula {spec.formula!r} does not parse: {exc}") from exc
    # formulae lists numeric literals (the 30 of decay(x, 30)) as an empty name
    names = sorted({v for v in desc.var_names if v.isidentifier()} - {spec.label} - set(FORMULA_NAMESPACE))
    factors = sorted({v for t in desc.group_terms for v in t.factor.var_names})
    return FormulaColumns(predictors=names, group_factors=factors)


def check_columns(spec: ModelSpec, needed: FormulaColumns, available: dict[str, str], where: str) -> None:
    """Fail, naming them, if formula columns are missing from the relation."""
    missing = [c for c in needed.predictors if c not in available]
    if missing:
        raise SpecError(
            f"{spec.path or spec.name}: formula names unknown column(s) {missing}; {where} has: "
            f"{', '.join(sorted(available))}"
        )


def check_training_frame(spec: ModelSpec, frame: pd.DataFrame, relation: str) -> pd.DataFrame:
    """Validate the label and drop rows with missing predictors.

    Returns
    -------
    pandas.DataFrame
        The frame with the label as 0/1 integers.

    """
    if frame.empty:
        raise DataError(
            f"no training rows in {relation} for spec {spec.name!r}: no labelled cutoff before "
            f"the latest one matches filter {spec.filter!r}"
        )
    label = frame[spec.label]
    values = set(pd.unique(label.dropna()))
    if not values <= {0, 1}:
        shown = sorted(map(str, values))[:10]
        raise DataError(f"label {spec.label!r} in {relation} must be 0/1, found values {shown}")
    y = label.astype("int64")
    if y.nunique() < 2:
        raise DataError(
            f"label {spec.label!r} in {relation} is {int(y.iloc[0])} on all {len(y)} training rows: "
            f"a model needs both outcomes"
        )
    return frame.assign(**{spec.label: y})


def _priors(spec: ModelSpec) -> dict[str, Any] | None:
    import bambi as bmb

    if not spec.priors:
        return None

    def build(value: Any) -> Any:
        if isinstance(value, dict) and "dist" in value:
            kwargs = {k: build(v) for k, v in value.items() if k != "dist"}
            return bmb.Prior(value["dist"], **kwargs)
        return value

    return {term: build(value) for term, value in spec.priors.items()}


def build_model(spec: ModelSpec, frame: pd.DataFrame) -> Any:
    """Build (not fit) the Bambi model of ``spec`` on ``frame``."""
    import bambi as bmb

    patch_formulae_lazycall_eq()
    try:
        with precision(spec):
            model = bmb.Model(
                spec.formula,
                frame,
                family=spec.family,
                link=spec.link,
                priors=_priors(spec),
                noncentered=spec.noncentered,
                extra_namespace=FORMULA_NAMESPACE,
                dropna=True,
            )
            model.build()
    except Exception as exc:
        raise SpecError(
            f"{spec.path or spec.name}: Bambi cannot build formula {spec.formula!r}: {exc}"
        ) from exc
    return model


def precision(spec: ModelSpec) -> Any:
    """Context manager: PyTensor's ``floatX`` set to the spec's ``sampler.precision``."""
    import pytensor

    return pytensor.config.change_flags(floatX=spec.sampler.precision)


@dataclass
class Diagnostics:
    """Convergence diagnostics of a fit."""

    max_r_hat: float | None
    min_ess_bulk: float | None
    divergences: int | None
    ok: bool
    message: str


def diagnose(idata: Any, spec: ModelSpec) -> Diagnostics:
    """Max r_hat, min bulk ESS and divergences, against the thresholds."""
    import arviz as az

    if spec.sampler.method in ("vi", "laplace"):
        return Diagnostics(None, None, None, True, f"{spec.sampler.method}: no MCMC diagnostics")
    post = idata.posterior
    rhat = az.rhat(post)
    ess = az.ess(post, method="bulk")
    max_rhat = float(np.nanmax([float(rhat[v].max()) for v in rhat.data_vars]))
    min_ess = float(np.nanmin([float(ess[v].min()) for v in ess.data_vars]))
    div = int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else 0
    problems = []
    if spec.sampler.chains > 1 and max_rhat > MAX_R_HAT:
        problems.append(f"max r_hat {max_rhat:.3f} > {MAX_R_HAT}")
    min_needed = MIN_ESS_PER_CHAIN * spec.sampler.chains
    if min_ess < min_needed:
        problems.append(f"min bulk ESS {min_ess:.0f} < {min_needed}")
    if div:
        problems.append(f"{div} divergent transitions")
    message = "; ".join(problems) if problems else "converged"
    return Diagnostics(max_rhat, min_ess, div, not problems, message)


def fit_model(model: Any, spec: ModelSpec, progress: bool = True) -> tuple[Any, float]:
    """Fit with the spec's inference method; returns (InferenceData, seconds)."""
    s = spec.sampler
    start = time.perf_counter()
    with warnings.catch_warnings(), precision(spec):
        warnings.simplefilter("ignore", category=FutureWarning)
        # single precision on JAX: nutpie's float64 bookkeeping arrays are truncated, as meant
        warnings.filterwarnings("ignore", message="Explicitly requested dtype float64")
        if s.method == "vi":
            approx = model.fit(inference_method="vi", random_seed=s.seed, progressbar=progress)
            idata = approx.sample(s.draws * s.chains, random_seed=s.seed)
            idata = _reshape_draws(idata, s.chains)
        elif s.method == "laplace":
            idata = model.fit(inference_method="laplace", draws=s.draws * s.chains, random_seed=s.seed)
            idata = _reshape_draws(idata, s.chains)
        else:
            kwargs: dict[str, Any] = {}
            if s.method in ("pymc", "nutpie", "numpyro", "blackjax"):
                kwargs["target_accept"] = s.target_accept
            if s.method == "nutpie":
                kwargs["nuts_sampler_kwargs"] = {
                    "backend": s.backend,
                    "gradient_backend": "jax" if s.backend == "jax" else "pytensor",
                    "low_rank_modified_mass_matrix": s.mass_matrix == "low_rank",
                }
            try:
                idata = model.fit(
                    inference_method=s.method,
                    draws=s.draws,
                    tune=s.tune,
                    chains=s.chains,
                    random_seed=s.seed,
                    progressbar=progress,
                    **kwargs,
                )
            except ImportError as exc:
                raise SpecError(
                    f"inference method {s.method!r} needs a package that is not installed: {exc}"
                ) from exc
    return idata, time.perf_counter() - start


def _reshape_draws(idata: Any, chains: int) -> Any:
    """Split one chain of independent draws into ``chains`` chains for uniform storage."""
    post = idata.posterior
    n = post.sizes["draw"] * post.sizes["chain"]
    per = n // chains
    stacked = post.stack(sample=("chain", "draw")).isel(sample=slice(0, per * chains))
    stacked = stacked.drop_vars(["chain", "draw", "sample"])
    new = stacked.assign_coords(sample=np.arange(per * chains))
    new = new.coarsen(sample=per).construct(sample=("chain", "draw"))
    new = new.assign_coords(chain=np.arange(chains), draw=np.arange(per)).transpose("chain", "draw", ...)
    idata.posterior = new
    return idata


def warn(message: str) -> None:
    """Print a loud warning to standard error."""
    bar = "!" * 78
    print(f"{bar}\nWARNING: {message}\n{bar}", file=sys.stderr, flush=True)
