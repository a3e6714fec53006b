"""Shrinkage priors a spec may name besides PyMC's distributions (Bambi takes them as ``Prior(dist=...)``).

``SharedNormal`` (``scale``) is a Bayesian ridge: beta_j ~ Normal(0, sigma) with one learnt
sigma ~ HalfNormal(scale) for every coefficient of the term.

``RegularizedHorseshoe`` is Piironen and Vehtari's (2017) regularised horseshoe for the
coefficients of one term (use ``cbind(...)`` to put many predictors in one term, so they share
the global scale):

    tau ~ HalfStudentT(df_global, scale_global)      global shrinkage
    lambda_j ~ HalfStudentT(df_local, 1)             local shrinkage, one per coefficient
    c^2 ~ InverseGamma(df_slab / 2, df_slab / 2 * scale_slab^2)   slab: caps large coefficients
    lambda~_j = sqrt(c^2 lambda_j^2 / (c^2 + tau^2 lambda_j^2))
    beta_j = z_j tau lambda~_j,  z_j ~ Normal(0, 1)  (non-centred)

``scale_global`` sets how many coefficients are expected to matter: for a logistic model
Piironen and Vehtari suggest p0 / (D - p0) * sigma / sqrt(n), with sigma = 1 / sqrt(mu (1 - mu))
the pseudo-SD at the base rate mu, p0 the expected relevant predictors out of D and n rows.
"""

from __future__ import annotations

from typing import Any

#: Parameters of each shrinkage prior, with their defaults (None = required).
SHRINKAGE_PRIORS: dict[str, dict[str, float | None]] = {
    "RegularizedHorseshoe": {
        "scale_global": None,
        "scale_slab": 2.0,
        "df_slab": 4.0,
        "df_global": 1.0,
        "df_local": 1.0,
    },
    "SharedNormal": {"scale": 1.0},
}


def regularized_horseshoe(
    name: str,
    scale_global: float,
    scale_slab: float = 2.0,
    df_slab: float = 4.0,
    df_global: float = 1.0,
    df_local: float = 1.0,
    dims: Any = None,
    **_: Any,
) -> Any:
    """Return the coefficients ``name`` (a PyMC deterministic) under the regularised horseshoe.

    See the module docstring for the model; ``dims`` are the term's (one per bound column).
    """
    import pymc as pm

    tau = pm.HalfStudentT(f"{name}_tau", nu=df_global, sigma=scale_global)
    lam = pm.HalfStudentT(f"{name}_lambda", nu=df_local, sigma=1.0, dims=dims)
    c2 = pm.InverseGamma(f"{name}_c2", alpha=df_slab / 2, beta=df_slab / 2 * scale_slab**2)
    lam_tilde = pm.math.sqrt(c2 * lam**2 / (c2 + tau**2 * lam**2))
    z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=dims)
    return pm.Deterministic(name, z * tau * lam_tilde, dims=dims)


def shared_normal(name: str, scale: float = 1.0, dims: Any = None, unit: Any = 1.0, **_: Any) -> Any:
    """Return the coefficients ``name`` under one learnt scale (a Bayesian ridge).

    beta_j ~ Normal(0, sigma * unit_j), sigma ~ HalfNormal(scale): every coefficient of the
    term is shrunk by the same amount, learnt from all of them (non-centred: beta_j =
    sigma unit_j z_j). Far easier to sample than the horseshoe. ``unit`` (1 from a spec; 1 /
    each column's SD for ``pairs()``'s default) puts the coefficients on a common scale.
    """
    import pymc as pm

    sigma = pm.HalfNormal(f"{name}_sigma", sigma=scale)
    z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=dims)
    return pm.Deterministic(name, z * sigma * unit, dims=dims)


#: The function that builds each shrinkage prior's coefficients.
SHRINKAGE_FUNCTIONS = {"RegularizedHorseshoe": regularized_horseshoe, "SharedNormal": shared_normal}


def check_shrinkage(term: str, dist: str, kwargs: dict[str, Any], where: str) -> dict[str, float]:
    """Validate a shrinkage prior's parameters (positive numbers, required ones present)."""
    from targeting.core.specs import SpecError

    allowed = SHRINKAGE_PRIORS[dist]
    unknown = set(kwargs) - set(allowed)
    if unknown:
        raise SpecError(
            f"{where}: prior of {term!r}: {dist} has no parameter(s) {sorted(unknown)}; "
            f"expected {sorted(allowed)}"
        )
    values = {}
    for key, default in allowed.items():
        value = kwargs.get(key, default)
        if value is None:
            raise SpecError(f"{where}: prior of {term!r}: {dist} needs {key}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise SpecError(
                f"{where}: prior of {term!r}: {dist} {key} must be a positive number, got {value!r}"
            )
        values[key] = float(value)
    return values
