"""Fast posterior scoring: the linear predictor as one matrix product per chunk.

Bambi's ``Model.predict`` builds xarray objects over (chain, draw, row) and materialises the
whole response; for millions of clients that is slow and memory-hungry. A Bernoulli GLM's
linear predictor is ``X @ beta + u[level]``: this module evaluates the design matrix of new rows
with the fitted model's own formulae objects (so ``scale()`` and categorical codings use the
training statistics), multiplies them by the stacked posterior draws, and summarises each row
over draws without keeping more than one chunk in memory.

Rows whose group level was not seen in training get a zero group effect (the population-level
prediction), as ``predict(include_group_specific=False)`` would give them.

A Gaussian-process term ``hsgp(x, m=..., c=...)`` is linear in its weights too: its design
columns are the approximation's ``m`` basis functions of ``x`` (:class:`HSGPBasis`, the
training centre, scale and domain), so it joins ``X`` and its weights join ``beta``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: Posterior draws used for each client's interval unless told otherwise.
DEFAULT_SCORE_DRAWS = 1000


def interval_positions(n_draws: int) -> tuple[int, int]:
    """Sorted-draw positions of the 5% and 95% quantiles among ``n_draws`` draws."""
    return int(np.floor(0.05 * (n_draws - 1))), int(np.ceil(0.95 * (n_draws - 1)))


class UnsupportedModel(ValueError):
    """The model has terms the fast path does not handle (offsets, several parameters, ...)."""


class HSGPBasis:
    """The basis functions of a fitted one-column ``hsgp()`` term, for any values of its column.

    PyMC's HSGP approximation of a Gaussian process on ``[-L, L]`` uses the Laplacian's
    eigenfunctions ``phi_j(s) = sin(pi j (s + L) / (2 L)) / sqrt(L)``, ``j = 1..m``, of the
    predictor as the term saw it: centred on the training mean, divided by the training
    values' largest distance (when Bambi scales it) and shifted by the training midpoint.
    All four numbers are the training ones, so new rows get the basis the weights were fit on.
    """

    def __init__(self, term: Any) -> None:
        if term.by_levels is not None or term.shape[1] != 1:
            raise UnsupportedModel(f"hsgp term {term.name!r} has a by= factor or several columns")
        self.mean = float(np.asarray(term.mean, dtype=float).ravel()[0])
        self.scale = float(term.maximum_distance) if term.scale_predictors else 1.0
        self.center = float(np.asarray(term.hsgp._X_center, dtype=float).ravel()[0])
        self.half_width = float(np.asarray(term.L, dtype=float).ravel()[0])
        j = np.arange(1, int(term.m[0]) + 1, dtype=float)
        self.frequencies = (np.pi * j / (2 * self.half_width))[1 if term.drop_first else 0 :]

    def shifted(self, x: np.ndarray) -> np.ndarray:
        """Return the sines' argument ``s + L``: the value as the training basis saw it."""
        shifted: np.ndarray = (np.asarray(x, dtype=np.float64) - self.mean) / self.scale - self.center
        return shifted + self.half_width

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Return the basis matrix (rows, m) of the values ``x`` (one column)."""
        basis: np.ndarray = np.sin(np.outer(self.shifted(np.ravel(x)), self.frequencies))
        basis /= np.sqrt(self.half_width)
        return basis


def thin_posterior(posterior: Any, draws: int | None) -> Any:
    """Keep ``draws`` evenly spaced samples of (chain, draw) as one chain (``None``/0: all).

    Deterministic: the same posterior and ``draws`` always give the same samples.
    """
    stacked = posterior.stack(__sample__=("chain", "draw"))
    total = stacked.sizes["__sample__"]
    if draws and draws < total:
        keep = np.unique(np.linspace(0, total - 1, draws).round().astype(np.int64))
        stacked = stacked.isel(__sample__=keep)
    n = stacked.sizes["__sample__"]
    stacked = stacked.drop_vars(["chain", "draw", "__sample__"]).assign_coords(__sample__=np.arange(n))
    return stacked.expand_dims(chain=[0]).rename({"__sample__": "draw"}).transpose("chain", "draw", ...)


def common_design(component: Any, rows: pd.DataFrame) -> np.ndarray | None:
    """Return the rows' common-effects design matrix (training statistics); ``None`` without one."""
    if component.design.common is None:
        return None
    return np.asarray(component.design.common.evaluate_new_data(rows).design_matrix, dtype=np.float64)


def nonfinite_rows(component: Any, x: np.ndarray | None) -> tuple[np.ndarray, dict[str, int]]:
    """Rows whose design holds a non-finite number (e.g. ``log`` of 0), and their count per term.

    A transform outside its domain gives -inf or NaN; such a row has no score (NaN breaks
    ``p_mean``, an infinity pins it to 0 or 1), so scoring leaves it out and names the term.
    """
    if x is None:
        return np.zeros(0, dtype=bool), {}
    bad = ~np.isfinite(x)
    counts = {}
    for term, cols in component.design.common.slices.items():
        n = int(bad[:, cols].any(axis=1).sum())
        if n:
            counts[term] = n
    return bad.any(axis=1), counts


def expand_design(x: np.ndarray, hsgp: list[tuple[slice, HSGPBasis]]) -> np.ndarray:
    """Replace each Gaussian-process term's column of a formula design by its basis columns."""
    if not hsgp:
        return x
    parts, at = [], 0
    for cols, basis in hsgp:
        parts += [x[:, at : cols.start], basis(x[:, cols])]
        at = cols.stop
    parts.append(x[:, at:])
    return np.concatenate(parts, axis=1)


class LinearPredictor:
    """Posterior draws of a fitted Bambi Bernoulli model, ready for ``X @ B``.

    Parameters
    ----------
    model
        The built Bambi model (rebuilt from the saved training rows).
    posterior
        Its posterior (``idata.posterior``), possibly thinned.

    """

    def __init__(self, model: Any, posterior: Any) -> None:
        from bambi.utils import get_aliased_name

        parent = model.family.likelihood.parent
        self.component = model.components[parent]
        c = self.component
        if c.offset_terms or len(model.distributional_components) > 1:
            raise UnsupportedModel("offset or distributional terms: use --engine bambi")
        self.linkinv = model.family.link[parent].linkinv
        self.n_draws = posterior.sizes["chain"] * posterior.sizes["draw"]
        #: Gaussian-process terms by their slice of the formula's design matrix
        self.hsgp: list[tuple[slice, HSGPBasis]] = []
        names: list[str] = []
        design = c.design.common
        for name in design.terms if design is not None else []:
            if name in c.hsgp_terms:
                term = c.hsgp_terms[name]
                self.hsgp.append((design.slices[name], HSGPBasis(term)))
                names.append(f"{get_aliased_name(term)}_weights")
            elif name == "Intercept" and c.intercept_term is not None:
                names.append(get_aliased_name(c.intercept_term))
            else:
                names.append(get_aliased_name(c.common_terms[name]))
        self.beta: np.ndarray | None = None
        if names:
            draws = [
                posterior[n].transpose("chain", "draw", ...).values.reshape(self.n_draws, -1) for n in names
            ]
            self.beta = np.ascontiguousarray(np.concatenate(draws, axis=1).T)
        # varying intercepts (1|factor): one column of draws per training level
        self.groups: list[tuple[str, pd.Index, np.ndarray]] = []
        for term in c.group_specific_terms.values():
            expr, factor = term.name.split("|", 1)
            if expr.strip() != "1" or ":" in factor:
                raise UnsupportedModel(f"group term {term.name!r} is not a plain (1|factor) intercept")
            draws = posterior[get_aliased_name(term)].transpose("chain", "draw", ...)
            levels = pd.Index([str(v) for v in draws[draws.dims[-1]].values])
            u = draws.values.reshape(self.n_draws, -1).T  # (levels, draws)
            # row len(levels) is the zero effect of an unseen level (index -1 wraps to it)
            u = np.vstack([u, np.zeros((1, self.n_draws))])
            self.groups.append((factor.strip(), levels, np.ascontiguousarray(u)))

    def expand(self, x: np.ndarray) -> np.ndarray:
        """Return the formula design ``x`` with the Gaussian-process bases (columns as in :attr:`beta`)."""
        return expand_design(x, self.hsgp)

    def eta(self, rows: pd.DataFrame, x: np.ndarray | None = None) -> np.ndarray:
        """Linear predictor draws, shape (rows, draws); ``x``: the rows' design if already made."""
        out = np.zeros((len(rows), self.n_draws))
        if self.beta is not None:
            x = common_design(self.component, rows) if x is None else x
            if x is not None:
                np.matmul(self.expand(x), self.beta, out=out)
        for factor, levels, u in self.groups:
            codes = levels.get_indexer(pd.Index(rows[factor].astype(str)))  # -1: unseen level
            out += u[codes]
        return out

    def summary(self, rows: pd.DataFrame, x: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Posterior mean, sd and 5%/95% quantiles of P(label = 1) for each row.

        The quantiles are taken on the linear predictor and mapped through the inverse link,
        which is monotone, so they equal the quantiles of the probabilities.
        """
        eta = self.eta(rows, x)
        s = eta.shape[1]
        lo, hi = interval_positions(s)
        q = np.partition(eta, [lo, hi], axis=1)
        q05, q95 = self.linkinv(q[:, lo]), self.linkinv(q[:, hi])
        del q
        p = self.linkinv(eta)
        del eta
        mean = p.mean(axis=1)
        sd = p.std(axis=1, ddof=1) if s > 1 else np.zeros(len(p))
        return {"p_mean": mean, "p_sd": sd, "p_q05": np.asarray(q05), "p_q95": np.asarray(q95)}
