"""A self-contained HTML report (and PNGs) for an evaluated run."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import numpy as np

from targeting.metrics import BAYES, EvaluationResult, SplitResult, summary_table
from targeting.predict import predict_draws
from targeting.runs import SavedRun
from targeting.settings import reports_dir

FIGURES = (
    ("reliability", "Reliability diagram ({split})"),
    ("gains", "Cumulative gains ({split})"),
    ("lift", "Lift by decile ({split})"),
    ("forest", "Coefficients: posterior means and 90% intervals"),
    ("ppc", "Posterior predictive check (training rows)"),
    ("scores", "Score distribution ({split} test rows)"),
    ("rank", "Rank plots of the chains (diagnostics)"),
)


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _reliability(split: SplitResult) -> Any:
    from sklearn.calibration import calibration_curve

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 5))
    top = 0.0
    for name, p in split.predictions.items():
        true, pred = calibration_curve(split.y, p, n_bins=10, strategy="quantile")
        ax.plot(pred, true, marker="o", label=name, lw=2.5 if name == BAYES else 1)
        top = max(top, pred.max(), true.max())
    ax.plot([0, top], [0, top], "k--", lw=1, label="perfect calibration")
    ax.set_xlabel("mean predicted probability (decile of clients)")
    ax.set_ylabel("observed purchase rate")
    ax.legend(fontsize=8)
    return fig


def _gains(split: SplitResult) -> Any:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 5))
    n = len(split.y)
    for name, p in split.predictions.items():
        order = np.argsort(-p, kind="stable")
        captured = np.cumsum(split.y[order]) / max(1, split.y.sum())
        ax.plot(np.arange(1, n + 1) / n, captured, label=name, lw=2.5 if name == BAYES else 1)
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="random")
    ax.set_xlabel("share of clients contacted (by score)")
    ax.set_ylabel("share of buyers reached")
    ax.legend(fontsize=8)
    return fig


def _lift(split: SplitResult) -> Any:
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
    ax.set_ylabel("purchase rate / overall rate")
    ax.set_xticks(range(1, 11))
    ax.legend(fontsize=8)
    return fig


def _common_vars(idata: Any) -> list[str]:
    post = idata.posterior
    return [v for v in post.data_vars if set(post[v].dims) <= {"chain", "draw"}]


def _forest(idata: Any) -> Any:
    import arviz as az

    post = idata.posterior
    names = [v for v in _common_vars(idata) if not v.endswith("_sigma") and v != "Intercept"]
    # a cbind term's coefficients (one per bound column), not its shrinkage parameters
    hyper = ("_tau", "_lambda", "_c2", "_z", "_sigma")
    names = [v for v in names if not v.endswith(hyper) and not v.endswith("__")]  # __: PyMC's transformed
    names += [v for v in post.data_vars if post[v].dims[2:] == (f"{v}_dim",) and v.startswith("cbind")]
    rows = sum(int(np.prod([post.sizes[d] for d in post[v].dims[2:]])) for v in names)
    axes = az.plot_forest(idata, var_names=names, combined=True, hdi_prob=0.9, figsize=(7, 0.3 * rows + 1.5))
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
    a1.set_xlabel("buyers in the training rows, replicated from the posterior")
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


def _scores(split: SplitResult) -> Any:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    p = split.predictions[BAYES]
    bins = np.linspace(0, max(p.max(), 0.01), 40)
    ax.hist(p[split.y == 0], bins=bins, alpha=0.6, density=True, label="did not buy")
    ax.hist(p[split.y == 1], bins=bins, alpha=0.6, density=True, label="bought")
    ax.set_xlabel("posterior mean purchase probability")
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


def _png(fig: Any, path: Path) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    _plt().close(fig)
    data = buf.getvalue()
    path.write_bytes(data)
    return data


def write_report(
    saved: SavedRun, result: EvaluationResult, model: Any, idata: Any, out: Path | None = None
) -> Path:
    """Write ``<reports>/<run_id>/report.html`` and one PNG per figure; return the HTML path."""
    folder = (out or reports_dir()) / saved.run_id
    folder.mkdir(parents=True, exist_ok=True)
    # figures of the out-of-time split, else of the first (held-out clients or cross-validation)
    oot = next((s for s in result.splits if s.name == "out_of_time"), result.splits[0])
    makers = {
        "reliability": lambda: _reliability(oot),
        "gains": lambda: _gains(oot),
        "lift": lambda: _lift(oot),
        "forest": lambda: _forest(idata),
        "ppc": lambda: _ppc(saved, model, idata, saved.spec.sampler.seed),
        "scores": lambda: _scores(oot),
        "rank": lambda: _rank(idata),
    }
    images = []
    for key, title in FIGURES:
        title = title.format(split=oot.name.replace("_", " "))
        data = _png(makers[key](), folder / f"{key}.png")
        images.append((key, title, base64.b64encode(data).decode()))
    rec = saved.record
    diag = rec.diagnostics
    table = summary_table(result.table)
    table.columns.name = None

    def fmt(value: float | None, digits: int) -> str:
        return "n/a" if value is None else f"{float(value):.{digits}f}"

    notes = "".join(
        f"<li><b>{html.escape(s.name)}</b>"
        + (f" (test cutoff {str(s.test_as_of)[:10]})" if s.test_as_of is not None else "")
        + f": {html.escape(s.note)}; "
        f"{len(s.y):,} test rows, "
        f"{int(s.y.sum()):,} positive; trained on {s.n_train:,} rows</li>"
        for s in result.splits
    )
    cutoffs = (
        f", cutoffs {str(rec.train_as_of_min)[:10]} .. {str(rec.train_as_of_max)[:10]}"
        if rec.train_as_of_min
        else " (a table without cutoffs)"
    )
    figures = "\n".join(
        f'<figure id="fig-{k}"><figcaption>{html.escape(t)}</figcaption>'
        f'<img class="figure" alt="{html.escape(t)}" src="data:image/png;base64,{b}"></figure>'
        for k, t, b in images
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Model report {html.escape(saved.run_id)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1200px; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; }}
figure {{ margin: 1.5em 0; }} figcaption {{ font-weight: bold; margin-bottom: .5em; }}
img.figure {{ max-width: 100%; }}
.bad {{ color: #b00; font-weight: bold; }}
</style></head>
<body data-figures-expected="{len(images)}">
<h1>Model report: {html.escape(saved.run_id)}</h1>
<p><b>Formula</b>: <code>{html.escape(rec.formula)}</code> ({html.escape(rec.family)},
{html.escape(saved.spec.link)} link), fitted with {html.escape(str(rec.sampler["method"]))} on
{rec.n_train_rows:,} rows ({rec.n_train_positives:,} positive){cutoffs}.</p>
<p><b>Diagnostics</b>: <span class="{"" if diag["ok"] else "bad"}">{html.escape(diag["message"])}</span>
(max r_hat {fmt(diag["max_r_hat"], 3)}, min bulk ESS {fmt(diag["min_ess_bulk"], 0)},
divergences {diag["divergences"]}).</p>
<h2>Held-out metrics (90% bootstrap intervals)</h2>
<ul>{notes}</ul>
<p>Baselines are trained on the same rows as the Bayesian model, on every column of the
spec's table except its id, label, cutoff and <code>exclude</code> list (text one-hot). The
figures show the {html.escape(oot.name)} split. The recency/frequency rule (where its columns
exist) is a ranking rule squashed to (0, 1): read its AUC, PR-AUC
and lift, not its calibration.</p>
{table.to_html(index=False, escape=True)}
<h2>Figures</h2>
{figures}
<script>
  // lets a headless browser check that every figure decoded
  window.addEventListener('load', function () {{
    var imgs = Array.from(document.querySelectorAll('img.figure'));
    var ok = imgs.filter(function (i) {{ return i.complete && i.naturalWidth > 0; }}).length;
    document.body.setAttribute('data-figures-loaded', String(ok));
  }});
</script>
</body></html>
"""
    path = folder / "report.html"
    path.write_text(page)
    return path


def report_for_run(result: EvaluationResult, out: Path | None = None, root: Path | None = None) -> Path:
    """Rebuild the run's model and posterior and write its report."""
    from targeting import runs

    saved = runs.load_run(result.run_id, root)
    return write_report(saved, result, saved.model(), saved.posterior(), out)
