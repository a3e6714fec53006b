"""``targeting clv``: customer lifetime value with pymc-marketing's BG/NBD and Gamma-Gamma models.

The input is any relation with one row per customer (at a cutoff): repeat purchases
(frequency), recency, age (T) and the mean value of the repeat purchases, the columns a
CLV spec names (:mod:`targeting.value.spec`; ``customer_rfm_summary`` holds them for the
apparel data). Two models, each fitted with nutpie (posterior draws) or MAP:

- **BG/NBD** (``BetaGeoModel``): each customer buys at a Poisson rate while alive and may
  drop out after any purchase; per customer the expected purchases over the horizon and
  P(alive), from every posterior draw (90% intervals);
- **Gamma-Gamma** (``GammaGammaModel``), on the repeat buyers: each customer's expected
  value per purchase, shrunk toward the population mean as far as their few purchases
  warrant (customers without a repeat purchase get the population mean).

The value over the horizon is expected purchases times expected value per purchase, per
draw. With an ``evaluation`` in the spec the same models are also fitted on the latest
cutoff whose outcome window the data covers and compared with what the customers then did:
per decile of predicted purchases and in total, against the naive baseline (each customer's
own repeat rate so far, times the horizon). Results go to ``ml.clv_runs``,
``ml.customer_clv`` and ``ml.clv_evaluations`` in one transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import sys
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from targeting.core.binding import Role, bind, rows_in_scope
from targeting.core.estimable import check_finite
from targeting.core.settings import manifest_path
from targeting.core.sqlsafe import ident, unit_source
from targeting.core.warehouse import connect
from targeting.value.spec import ClvSpec

#: Customers predicted at once (draws x customers floats per array).
CHUNK = 5000
#: Posterior draws kept for the per-customer predictions (thinned evenly beyond this).
MAX_DRAWS = 400
#: Interval level of every per-customer interval.
LEVEL = 0.90
#: Columns of ``ml.clv_evaluations`` besides ``run_id``.
EVALUATION_COLUMNS = [
    "as_of_date",
    "model",
    "decile",
    "n_customers",
    "predicted_purchases",
    "actual_purchases",
    "predicted_revenue",
    "actual_revenue",
]


class ClvError(ValueError):
    """The rows cannot be modelled as asked (no repeat buyers, impossible values)."""


@dataclass
class ClvFit:
    """Fitted BG/NBD and Gamma-Gamma models and what they predict for the rows they were fitted on."""

    rows: pd.DataFrame
    predictions: pd.DataFrame
    params: dict[str, float]
    diagnostics: str
    seconds: float


def _say(message: str, progress: bool) -> None:
    if progress:
        print(f"[clv] {message}", file=sys.stderr, flush=True)


def read_summary(spec: ClvSpec, db: Path, cutoff: str = "latest") -> tuple[pd.DataFrame, str, Any]:
    """Check the spec's columns against the catalog and read one cutoff's rows.

    Parameters
    ----------
    spec
        The CLV spec.
    db
        The warehouse file.
    cutoff
        ``latest``: the latest value of ``as_of`` (every row without ``as_of``); ``evaluation``:
        the latest value whose rows have the evaluation's ``complete`` column true.

    Returns
    -------
    tuple
        The rows (``customer_id``, ``frequency``, ``recency``, ``T``, ``monetary_value``,
        plus the actuals for ``evaluation``), the relation's label and the cutoff (or ``None``).

    """
    where = spec.path or spec.name
    ev = spec.evaluation
    with connect(db) as con:
        roles = [Role(spec.id, "id", "key")] if spec.id else []
        if spec.as_of:
            roles.append(Role(spec.as_of, "as_of", "date"))
        need = "numbers"
        roles += [Role(c, r, "number", need, predictor=True) for r, c in spec.columns.items()]
        if cutoff == "evaluation" and ev is not None:
            roles += [Role(ev.complete, "evaluation.complete", "boolean")]
            roles += [
                Role(ev.purchases, "evaluation.purchases", "number"),
                Role(ev.revenue, "evaluation.revenue", "number"),
            ]
            if ev.window_end:
                roles.append(Role(ev.window_end, "evaluation.window_end", "date"))
        moment = "the summary must be measured before the cutoff"
        rel = bind(con, spec.relation, roles, where, manifest_path(), keyless=not spec.id, moment=moment)
        # the filter's rows at the latest cutoff among them (and, to evaluate, whose window is known)
        evaluating = cutoff == "evaluation" and ev is not None
        also = [ident(ev.complete)] if evaluating and ev is not None else []
        scope = rows_in_scope(con, rel, where, spec.filter, spec.as_of, also)
        as_of = scope.cutoff
        if spec.as_of and as_of is None:
            what = f"with {ev.complete} true" if evaluating and ev is not None else ""
            raise ClvError(f"{where}: {rel.label} has no rows {what}; nothing to model".replace("  ", " "))
        source, key = unit_source(rel, spec.id, where)
        cols = [f"cast({ident(key)} as varchar) as customer_id"]
        names = {"frequency": "frequency", "recency": "recency", "age": "T", "monetary": "monetary_value"}
        cols += [f"cast({ident(c)} as double) as {names[r]}" for r, c in spec.columns.items()]
        if cutoff == "evaluation" and ev is not None:
            cols += [
                f"cast({ident(ev.purchases)} as double) as actual_purchases",
                f"cast({ident(ev.revenue)} as double) as actual_revenue",
            ]
            if ev.window_end and spec.as_of:
                cols.append(f"datediff('day', {ident(spec.as_of)}, {ident(ev.window_end)}) as window_days")
        frame = con.execute(f"select {', '.join(cols)} from {source}{scope.where()}", scope.params).df()
    label = rel.label + (f" at {pd.Timestamp(as_of).date()}" if as_of is not None else "")
    check_summary(frame, spec, label)
    if "window_days" in frame.columns and ev is not None:
        off = frame["window_days"] != spec.horizon
        if off.any():
            raise ClvError(
                f"{where}: {label}: evaluation.window_end is {int(frame.loc[off, 'window_days'].iloc[0])} "
                f"days after {spec.as_of}, but horizon is {spec.horizon:g}; "
                "the actuals must cover the horizon"
            )
    return frame.sort_values("customer_id", kind="stable").reset_index(drop=True), label, as_of


def check_summary(frame: pd.DataFrame, spec: ClvSpec, label: str) -> None:
    """Refuse rows the models cannot read, in one line naming the column, a customer and the rule.

    Rules: no missing values; frequency a whole number >= 0; 0 <= recency <= age, age > 0;
    recency 0 when frequency is 0; monetary value > 0 for every repeat buyer; at least one
    repeat buyer (BG/NBD learns the purchase rate from repeat purchases).
    """
    where = spec.path or spec.name
    shown = {
        "frequency": spec.frequency,
        "recency": spec.recency,
        "T": spec.age,
        "monetary_value": spec.monetary,
    }
    if frame.empty:
        raise ClvError(f"{where}: {label} has no rows to model")
    if frame["customer_id"].duplicated().any():
        dup = frame.loc[frame["customer_id"].duplicated(), "customer_id"].iloc[0]
        raise ClvError(f"{where}: {label}: customer {dup!r} has two rows; one row per customer is expected")
    for col, name in shown.items():
        empty = frame[col].isna()
        if empty.any():
            raise ClvError(
                f"{where}: {label}: column {name!r} is empty for {int(empty.sum()):,} customer(s) "
                f"(e.g. {frame.loc[empty, 'customer_id'].iloc[0]!r}); every customer needs a value"
            )
    check_finite(frame, {c: n for c, n in shown.items()}, f"{where}: {label}")

    def refuse(bad: pd.Series, message: str) -> None:
        if bad.any():
            first = frame.loc[bad].iloc[0]
            raise ClvError(
                f"{where}: {label}: {message} for {int(bad.sum()):,} customer(s), "
                f"e.g. {first['customer_id']!r} "
                f"({shown['frequency']}={first['frequency']:g}, {shown['recency']}={first['recency']:g}, "
                f"{shown['T']}={first['T']:g}, {shown['monetary_value']}={first['monetary_value']:g})"
            )

    f, r, t, m = (frame[c] for c in ("frequency", "recency", "T", "monetary_value"))
    refuse((f < 0) | (f != np.floor(f)), f"{shown['frequency']!r} is not a whole number >= 0")
    refuse(t <= 0, f"{shown['T']!r} (age) is not positive")
    refuse(r < 0, f"{shown['recency']!r} is negative")
    refuse(r > t, f"{shown['recency']!r} is greater than {shown['T']!r} (a last purchase after the end)")
    refuse((f == 0) & (r != 0), f"{shown['recency']!r} is not 0 where {shown['frequency']!r} is 0")
    refuse((f > 0) & (m <= 0), f"{shown['monetary_value']!r} is 0 or negative for a repeat buyer")
    if not (f > 0).any():
        raise ClvError(
            f"{where}: {label}: no customer has a repeat purchase ({shown['frequency']!r} is 0 on all "
            f"{len(frame):,} rows); the purchase and spend models learn from repeat buyers"
        )


@contextlib.contextmanager
def _quiet() -> Any:
    """Silence PyMC's and pymc-marketing's logging, warnings and progress while fitting."""
    loggers = [logging.getLogger(n) for n in ("pymc", "pymc_marketing", "pytensor")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _fit(model: Any, spec: ClvSpec, seed_offset: int) -> Any:
    """Fit one pymc-marketing model as the spec says; returns its InferenceData."""
    if spec.method == "map":
        return model.fit(method="map", progressbar=False)
    s = spec.sampler
    return model.fit(
        method="mcmc",
        nuts_sampler="nutpie",
        draws=s.draws,
        tune=s.tune,
        chains=s.chains,
        cores=1,
        target_accept=s.target_accept,
        random_seed=s.seed + seed_offset,
        progressbar=False,
    )


def _thin(model: Any) -> None:
    """Keep at most :data:`MAX_DRAWS` evenly spaced posterior draws for the predictions."""
    post = model.idata.posterior
    total = post.sizes["chain"] * post.sizes["draw"]
    if total > MAX_DRAWS:
        step = int(np.ceil(total / MAX_DRAWS))
        model.idata.posterior = post.isel(draw=slice(None, None, step))


def _diagnostics(idata: Any, name: str, method: str) -> str:
    """One phrase on a fit: r_hat and ESS of its parameters, divergences (nothing to say for MAP)."""
    if method == "map":
        return f"{name}: MAP"
    import arviz as az

    post = idata.posterior
    names = [v for v in post.data_vars if post[v].ndim == 2]
    rhat = float(max(float(az.rhat(post[names])[v]) for v in names))
    ess = float(min(float(az.ess(post[names])[v]) for v in names))
    div = int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else 0
    ok = rhat <= 1.01 and ess >= 100 and div == 0
    state = "converged" if ok else "NOT converged"
    return f"{name}: {state}: max r_hat {rhat:.3f}, min bulk ESS {ess:.0f}, {div} divergent transitions"


def fit_models(rows: pd.DataFrame, spec: ClvSpec, progress: bool = True) -> ClvFit:
    """Fit BG/NBD on every row and Gamma-Gamma on the repeat buyers; predict over the horizon.

    Returns per customer the expected purchases, P(alive), the expected value per purchase
    and the value over the horizon, each with its mean and 90% interval over the draws
    (equal ends under MAP).
    """
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    start = time.perf_counter()
    data = rows[["customer_id", "frequency", "recency", "T", "monetary_value"]].copy()
    repeat = data[data["frequency"] > 0].reset_index(drop=True)
    _say(
        f"{len(data):,} customers, {len(repeat):,} with repeat purchases; BG/NBD and Gamma-Gamma "
        f"({spec.method})",
        progress,
    )
    with _quiet():
        bg = BetaGeoModel()
        bg_idata = _fit_data(bg, data[["customer_id", "frequency", "recency", "T"]], spec, 0)
        gg = GammaGammaModel()
        gg_idata = _fit_data(gg, repeat[["customer_id", "frequency", "monetary_value"]], spec, 1)
    diagnostics = "; ".join(
        [_diagnostics(bg_idata, "BG/NBD", spec.method), _diagnostics(gg_idata, "Gamma-Gamma", spec.method)]
    )
    params = {
        k: float(bg_idata.posterior[k].mean()) for k in ("r", "alpha", "a", "b") if k in bg_idata.posterior
    }
    params |= {k: float(gg_idata.posterior[k].mean()) for k in ("p", "q", "v") if k in gg_idata.posterior}
    _thin(bg)
    _thin(gg)
    predictions = pd.concat(
        [_predict(bg, gg, data.iloc[i : i + CHUNK], spec.horizon) for i in range(0, len(data), CHUNK)],
        ignore_index=True,
    )
    seconds = time.perf_counter() - start
    _say(f"{diagnostics} ({seconds:.1f} s)", progress)
    return ClvFit(rows, predictions, params, diagnostics, seconds)


def _fit_data(model: Any, data: pd.DataFrame, spec: ClvSpec, seed_offset: int) -> Any:
    model.build_model(data)
    return _fit(model, spec, seed_offset)


def _summary(draws: np.ndarray, prefix: str) -> dict[str, np.ndarray]:
    """Mean and the 90% interval over the draws (axis 0) of a (draws, customers) array."""
    q = np.quantile(draws, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], axis=0)
    return {prefix: draws.mean(axis=0), f"{prefix}_lower": q[0], f"{prefix}_upper": q[1]}


def _draws(array: Any) -> np.ndarray:
    """(chain, draw, customer) DataArray to a (draws, customers) array."""
    values = np.asarray(array.transpose("chain", "draw", "customer_id").values, dtype=float)
    return values.reshape(-1, values.shape[-1])


def _predict(bg: Any, gg: Any, chunk: pd.DataFrame, horizon: float) -> pd.DataFrame:
    """Per-customer predictions of one chunk of customers, from every kept draw."""
    with _quiet():
        purchases = _draws(bg.expected_purchases(data=chunk, future_t=horizon))
        alive = _draws(bg.expected_probability_alive(data=chunk))
        spend = _draws(gg.expected_customer_spend(data=chunk))
    n = min(len(purchases), len(spend))  # the two models' draws, paired in order
    value = purchases[:n] * spend[:n]
    out = {"customer_id": chunk["customer_id"].to_numpy()}
    out |= _summary(purchases, "expected_purchases")
    out |= _summary(alive, "p_alive")
    out |= _summary(spend, "expected_order_value")
    out |= _summary(value, "clv")
    return pd.DataFrame(out)


def evaluate(fit: ClvFit, actual: pd.DataFrame, horizon: float) -> pd.DataFrame:
    """Compare predicted with actual purchases and revenue, per decile and in total, against naive.

    The naive baseline predicts each customer's own repeat rate so far (frequency / age) times
    the horizon, and that times their mean repeat value. Deciles are of each model's own
    predicted purchases (decile 10 the highest); decile 0 is the total.
    """
    rows = []
    naive_purchases = actual["frequency"] / actual["T"] * horizon
    models = {
        "bgnbd": (fit.predictions["expected_purchases"].to_numpy(), fit.predictions["clv"].to_numpy()),
        "naive": (naive_purchases.to_numpy(), (naive_purchases * actual["monetary_value"]).to_numpy()),
    }
    y = actual["actual_purchases"].to_numpy()
    revenue = actual["actual_revenue"].to_numpy()
    for model, (pred, value) in models.items():
        rank = pd.Series(pred).rank(method="first").to_numpy()
        decile = np.ceil(rank / len(pred) * 10).astype(int)
        for d in range(0, 11):
            m = np.ones(len(pred), bool) if d == 0 else decile == d
            rows.append(
                {
                    "model": model,
                    "decile": d,
                    "n_customers": int(m.sum()),
                    "predicted_purchases": float(pred[m].sum()),
                    "actual_purchases": float(y[m].sum()),
                    "predicted_revenue": float(value[m].sum()),
                    "actual_revenue": float(revenue[m].sum()),
                }
            )
    return pd.DataFrame(rows)


def decile_error(table: pd.DataFrame, model: str) -> float:
    """Mean absolute difference of predicted and actual purchases per customer over the deciles."""
    t = table[(table["model"] == model) & (table["decile"] > 0)]
    return float(np.mean(np.abs(t["predicted_purchases"] - t["actual_purchases"]) / t["n_customers"]))


def run_id_of(spec: ClvSpec, rows: pd.DataFrame) -> str:
    """Return a run id from the spec text and the rows read (the same inputs give the same id)."""
    h = hashlib.sha256(spec.text.encode())
    h.update(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
    return f"{spec.name}-{h.hexdigest()[:12]}"


@dataclass
class ClvResult:
    """One ``targeting clv`` run: the run row, per-customer values and the evaluation."""

    run_id: str
    run: dict[str, object]
    customers: pd.DataFrame
    evaluations: pd.DataFrame
    fit: ClvFit
    evaluation_fit: ClvFit | None

    @property
    def converged(self) -> bool:
        """Whether every fit of the run (the evaluation's included) passed its diagnostics."""
        said = f"{self.run['diagnostics']} {self.run.get('eval_diagnostics', '')}"
        return "NOT converged" not in said


def run_clv(spec: ClvSpec, db: Path, evaluate_too: bool = True, progress: bool = True) -> ClvResult:
    """Fit on the latest cutoff and, with an evaluation in the spec, on the latest complete one.

    The evaluation is out of time: fitted on the latest cutoff whose window the data covers,
    compared with what the customers did in it.
    """
    rows, label, as_of = read_summary(spec, db)
    evaluated = None
    if spec.evaluation is not None and evaluate_too:
        # read and check the evaluation's rows before any fit: bad input fails at once
        evaluated = read_summary(spec, db, cutoff="evaluation")
    _say(f"scoring {label}", progress)
    fit = fit_models(rows, spec, progress)
    run_id = run_id_of(spec, rows)
    cutoff = None if as_of is None else pd.Timestamp(as_of).date()
    customers = fit.predictions.rename(columns={"customer_id": "client_id"}).assign(
        as_of_date=cutoff, horizon=spec.horizon
    )
    customers = customers.merge(
        rows[["customer_id", "frequency", "recency", "T", "monetary_value"]].rename(
            columns={"customer_id": "client_id", "T": "age"}
        ),
        on="client_id",
    )
    evaluations = pd.DataFrame(columns=EVALUATION_COLUMNS)
    ev_fit = None
    summary: dict[str, object] = {}
    if evaluated is not None:
        ev_rows, ev_label, ev_as_of = evaluated
        _say(
            f"evaluating out of time: fitted on {ev_label}, compared with the next {spec.horizon:g}", progress
        )
        same = ev_rows[fit.rows.columns].equals(fit.rows)
        ev_fit = fit if same else fit_models(ev_rows, spec, progress)
        evaluations = evaluate(ev_fit, ev_rows, spec.horizon).assign(
            as_of_date=pd.Timestamp(ev_as_of).date() if ev_as_of is not None else None
        )
        total = evaluations[(evaluations["model"] == "bgnbd") & (evaluations["decile"] == 0)].iloc[0]
        from scipy.stats import spearmanr

        summary = {
            "eval_as_of_date": pd.Timestamp(ev_as_of).date() if ev_as_of is not None else None,
            "eval_customers": len(ev_rows),
            "eval_predicted_purchases": float(total["predicted_purchases"]),
            "eval_actual_purchases": float(total["actual_purchases"]),
            "eval_decile_error": decile_error(evaluations, "bgnbd"),
            "eval_decile_error_naive": decile_error(evaluations, "naive"),
            "eval_spearman": float(
                spearmanr(ev_fit.predictions["expected_purchases"], ev_rows["actual_purchases"]).statistic
            ),
            "eval_diagnostics": ev_fit.diagnostics,
        }
    run = {
        "run_id": run_id,
        "spec_name": spec.name,
        "relation": label,
        "as_of_date": cutoff,
        "horizon": spec.horizon,
        "method": spec.method,
        "n_customers": len(rows),
        "n_repeat_buyers": int((rows["frequency"] > 0).sum()),
        **{f"param_{k}": v for k, v in fit.params.items()},
        "diagnostics": fit.diagnostics,
        "seconds": fit.seconds,
        **summary,
        "created_at": datetime.now(UTC).replace(tzinfo=None, microsecond=0),
    }
    return ClvResult(run_id, run, customers, evaluations, fit, ev_fit)
