"""A self-contained HTML report (and PNGs) for an evaluated run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from markupsafe import Markup

from targeting.core.predict import predict_draws
from targeting.core.settings import reports_dir
from targeting.models.metrics import BAYES, EvaluationResult, SplitResult, summary_table
from targeting.models.runs import SavedRun
from targeting.reports.figures import pyplot as _plt
from targeting.reports.page import Figure, Table, write_page

FIGURES = (
    ("reliability", "Reliability diagram ({split})"),
    ("gains", "Cumulative gains ({split})"),
    ("lift", "Lift by decile ({split})"),
    ("forest", "Coefficients (all but the intercept): posterior means and 90% intervals"),
    ("ppc", "Posterior predictive check (training rows)"),
    ("scores", "Score distribution ({split} test rows)"),
    ("rank", "Rank plots of the chains (diagnostics)"),
)


def _reliability(split: SplitResult, label: str) -> Any:
    from sklearn.calibration import calibration_curve

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 5))
    top = 0.0
    for name, p in split.predictions.items():
        true, pred = calibration_curve(split.y, p, n_bins=10, strategy="quantile")
        ax.plot(pred, true, marker="o", label=name, lw=2.5 if name == BAYES else 1)
        top = max(top, pred.max(), true.max())
    ax.plot([0, top], [0, top], "k--", lw=1, label="perfect calibration")
    ax.set_xlabel("mean predicted probability (decile of rows)")
    ax.set_ylabel(f"observed rate of {label} = 1")
    ax.legend(fontsize=8)
    return fig


def _gains(split: SplitResult, label: str) -> Any:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 5))
    n = len(split.y)
    for name, p in split.predictions.items():
        order = np.argsort(-p, kind="stable")
        captured = np.cumsum(split.y[order]) / max(1, split.y.sum())
        ax.plot(np.arange(1, n + 1) / n, captured, label=name, lw=2.5 if name == BAYES else 1)
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="random")
    ax.set_xlabel("share of rows targeted (by score)")
    ax.set_ylabel(f"share of {label} = 1 reached")
    ax.legend(fontsize=8)
    return fig


def _lift(split: SplitResult, label: str) -> Any:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    names = list(split.predictions)
    width = 0.8 / len(names)
    base = split.y.mean()
    for i, name in enumerate(names):
        order = np.argsort(-split.predictions[name], kind="stable")
        deciles = np.array_split(split.y[order], 10)
        lift = [d.mean() / base if base else 0 for d in deciles]
        ax.bar(np.arange(1, 11) + (i - len(names) / 2 + 0.5) * width, lift, width, label=name)
    ax.axhline(1, color="k", lw=1, ls="--")
    ax.set_xlabel("decile (1 = highest scores)")
    ax.set_ylabel(f"rate of {label} = 1 / overall rate")
    ax.set_xticks(range(1, 11))
    ax.legend(fontsize=8)
    return fig


def _common_vars(idata: Any) -> list[str]:
    post = idata.posterior
    return [v for v in post.data_vars if set(post[v].dims) <= {"chain", "draw"}]


#: posterior variables that are not coefficients: a shrinkage prior's internals, PyMC's
#: transformed values and the standardised offsets of non-centred group effects
_NOT_COEFFICIENTS = ("_tau", "_lambda", "_c2", "_z", "__", "_offset")


def _forest(idata: Any) -> Any:
    """Plot every coefficient but the intercept with its 90% HDI.

    Numeric terms, categorical ones (one row per level), ``cbind`` columns, group effects (one
    row per level) and their standard deviations.
    """
    import arviz as az

    post = idata.posterior
    names = [
        v
        for v in post.data_vars
        if v != "Intercept"
        and not str(v).endswith(_NOT_COEFFICIENTS)
        and "__obs__" not in post[v].dims  # a per-row quantity (the mean), not a coefficient
    ]
    rows = sum(int(np.prod([post.sizes[d] for d in post[v].dims[2:]])) for v in names)
    axes = az.plot_forest(
        idata, var_names=names, combined=True, hdi_prob=0.9, figsize=(7, 0.3 * max(rows, 1) + 1.5)
    )
    fig = np.ravel(axes)[0].figure
    np.ravel(axes)[0].axvline(0, color="k", lw=1, ls="--")
    return fig


def _ppc(saved: SavedRun, model: Any, idata: Any, seed: int) -> Any:
    import arviz as az

    plt = _plt()
    post = idata.posterior
    per_chain = max(1, 200 // post.sizes["chain"])
    step = max(1, post.sizes["draw"] // per_chain)
    thin = az.InferenceData(posterior=post.isel(draw=slice(0, None, step)))
    train = saved.train.dropna(subset=saved.record.predictors)
    p = predict_draws(model, thin, train, True).reshape(-1, len(train))
    rng = np.random.default_rng(seed)
    simulated = (rng.random(p.shape) < p).sum(axis=1)
    observed = int(train[saved.spec.label].sum())
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    a1.hist(simulated, bins=30, color="#6a8caf")
    a1.axvline(observed, color="crimson", lw=2, label=f"observed {observed}")
    a1.set_xlabel(f"rows with {saved.spec.label} = 1 in training, replicated from the posterior")
    a1.legend()
    mean_p = p.mean(axis=0)
    order = np.argsort(mean_p)
    bins = np.array_split(order, 10)
    a2.plot(
        [mean_p[b].mean() for b in bins], [train[saved.spec.label].to_numpy()[b].mean() for b in bins], "o-"
    )
    top = max(mean_p.max(), 0.01)
    a2.plot([0, top], [0, top], "k--", lw=1)
    a2.set_xlabel("posterior mean probability (decile)")
    a2.set_ylabel("observed rate in training rows")
    return fig


def _scores(split: SplitResult, label: str) -> Any:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    p = split.predictions[BAYES]
    bins = np.linspace(0, max(p.max(), 0.01), 40)
    ax.hist(p[split.y == 0], bins=bins, alpha=0.6, density=True, label=f"{label} = 0")
    ax.hist(p[split.y == 1], bins=bins, alpha=0.6, density=True, label=f"{label} = 1")
    ax.set_xlabel(f"posterior mean P({label} = 1)")
    ax.set_ylabel("density")
    ax.legend()
    return fig


def _rank(idata: Any) -> Any:
    import arviz as az

    names = _common_vars(idata)[:9]
    axes = az.plot_rank(
        idata, var_names=names, figsize=(13, 2.8 * ((len(names) + 2) // 3)), grid=((len(names) + 2) // 3, 3)
    )
    for ax in np.ravel(axes):
        ax.set_title(ax.get_title(), fontsize=9)
        ax.xaxis.label.set_size(9)
        ax.yaxis.label.set_size(9)
    fig = np.ravel(axes)[0].figure
    fig.tight_layout()
    return fig


def write_report(
    saved: SavedRun, result: EvaluationResult, model: Any, idata: Any, out: Path | None = None
) -> Path:
    """Write ``<reports>/<run_id>/report.html`` and one PNG per figure; return the HTML path."""
    folder = (out or reports_dir()) / saved.run_id
    label = saved.spec.label
    # figures of the out-of-time split, else of the first (held-out clients or cross-validation)
    oot = next((s for s in result.splits if s.name == "out_of_time"), result.splits[0])
    makers = {
        "reliability": lambda: _reliability(oot, label),
        "gains": lambda: _gains(oot, label),
        "lift": lambda: _lift(oot, label),
        "forest": lambda: _forest(idata),
        "ppc": lambda: _ppc(saved, model, idata, saved.spec.sampler.seed),
        "scores": lambda: _scores(oot, label),
        "rank": lambda: _rank(idata),
    }
    figures = [
        Figure(key, title.format(split=oot.name.replace("_", " ")), makers[key]()) for key, title in FIGURES
    ]
    rec = saved.record
    diag = rec.diagnostics
    table = summary_table(result.table)
    table.columns.name = None

    def fmt(value: float | None, digits: int) -> str:
        return "n/a" if value is None else f"{float(value):.{digits}f}"

    notes = Markup("").join(
        Markup("<li><b>{}</b>{}: {}; {:,} test rows, {:,} with {} = 1; trained on {:,} rows</li>").format(
            s.name,
            f" (test cutoff {str(s.test_as_of)[:10]})" if s.test_as_of is not None else "",
            s.note,
            len(s.y),
            int(s.y.sum()),
            label,
            s.n_train,
        )
        for s in result.splits
    )
    cutoffs = (
        f", cutoffs {str(rec.train_as_of_min)[:10]} .. {str(rec.train_as_of_max)[:10]}"
        if rec.train_as_of_min
        else " (a table without cutoffs)"
    )
    intro = Markup(
        "<p><b>Formula</b>: <code>{}</code> ({}, {} link), fitted with {} on {:,} rows "
        "({:,} with {} = 1){}.</p>"
        '<p><b>Diagnostics</b>: <span class="{}">{}</span> '
        "(max r_hat {}, min bulk ESS {}, divergences {}).</p>"
    ).format(
        rec.formula,
        rec.family,
        saved.spec.link,
        rec.sampler["method"],
        rec.n_train_rows,
        rec.n_train_positives,
        label,
        cutoffs,
        "" if diag["ok"] else "bad",
        diag["message"],
        fmt(diag["max_r_hat"], 3),
        fmt(diag["min_ess_bulk"], 0),
        "n/a" if diag["divergences"] is None else diag["divergences"],
    )
    note = Markup(
        "<ul>{}</ul><p>Baselines are trained on the same rows as the Bayesian model, on every column of "
        "the spec's table except its id, label, cutoff and <code>exclude</code> list (text one-hot). "
        "The figures show the {} split. The recency/frequency rule (where its columns exist) is a "
        "ranking rule squashed to (0, 1): read its AUC, PR-AUC and lift, not its calibration.</p>"
    ).format(notes, oot.name)
    tables = [Table(table, "Held-out metrics (90% bootstrap intervals)", note)]
    return write_page(folder, f"Model report: {saved.run_id}", intro, tables, figures)


def report_for_run(result: EvaluationResult, out: Path | None = None, root: Path | None = None) -> Path:
    """Rebuild the run's model and posterior and write its report."""
    from targeting.models import runs

    saved = runs.load_run(result.run_id, root)
    return write_report(saved, result, saved.model(), saved.posterior(), out)
