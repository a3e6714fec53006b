"""HTML reports with figures for ``targeting abtest``, ``lift`` and ``uplift`` results.

Written to ``<reports>/experiments/<name>/report.html`` (uplift: ``<reports>/uplift/<run>/``),
PNG files beside it, one page per experiment, analysis or run, from the same tables that go
to the warehouse.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from targeting.core.settings import reports_dir
from targeting.reports import page
from targeting.reports.figures import interval_plot
from targeting.reports.figures import pyplot as _plt
from targeting.reports.page import Figure, Table


def _lift_forest(rows: pd.DataFrame, title: str) -> Any:
    """Per-group lift: no pooling (grey) and partial pooling (blue), the mean across groups (band)."""
    plt = _plt()
    groups = rows[rows["level"] == "group"].reset_index(drop=True)
    pooled = rows[rows["level"] == "pooled"].iloc[0]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(groups) + 1.8))
    pos = np.arange(len(groups))
    ax.axvspan(
        pooled["pooled_lower"], pooled["pooled_upper"], color="tab:blue", alpha=0.12, label="mean lift (90%)"
    )
    ax.axvline(0, color="black", lw=0.8)
    ax.errorbar(
        groups["diff"],
        pos + 0.15,
        xerr=[groups["diff"] - groups["diff_lower"], groups["diff_upper"] - groups["diff"]],
        fmt="o",
        color="grey",
        label="no pooling (confidence)",
    )
    ax.errorbar(
        groups["pooled_mean"],
        pos - 0.15,
        xerr=[groups["pooled_mean"] - groups["pooled_lower"], groups["pooled_upper"] - groups["pooled_mean"]],
        fmt="o",
        color="tab:blue",
        label="partial pooling (credible)",
    )
    ax.set_yticks(pos, groups["group_value"].astype(str))
    ax.invert_yaxis()
    ax.set_xlabel(f"treatment - control: {title}")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def _arm_values(rows: pd.DataFrame, metric: str) -> Any:
    """Each arm's value with its interval (Bayesian, or delta method for ratios)."""
    return interval_plot(
        list(rows["arm"].astype(str)),
        rows["value"],
        rows["value_lower"],
        rows["value_upper"],
        f"{metric} per arm (90% interval)",
        zero_line=False,
    )


def _differences(rows: pd.DataFrame, control: str, metric: str, level: int) -> Any:
    """Each arm's difference from the control with its interval (and the adjusted and sequential ones)."""
    labels: list[str] = []
    points: list[tuple[float, float, float]] = []

    def add(label: str, centre: Any, lower: Any, upper: Any) -> None:
        if centre is not None and not pd.isna(centre):
            labels.append(label)
            points.append((float(centre), float(lower), float(upper)))

    for r in rows[rows["arm"] != control].to_dict("records"):
        add(f"{r['arm']} (plain)", r["diff"], r["diff_lower"], r["diff_upper"])
        add(f"{r['arm']} (adjusted)", r.get("adj_diff"), r.get("adj_diff_lower"), r.get("adj_diff_upper"))
        if not pd.isna(r.get("seq_diff_lower")):
            centre = r["diff"] if pd.isna(r.get("adj_diff")) else r["adj_diff"]
            add(f"{r['arm']} (sequential)", centre, r["seq_diff_lower"], r["seq_diff_upper"])
    value, lower, upper = (list(v) for v in zip(*points, strict=True)) if points else ([], [], [])
    return interval_plot(labels, value, lower, upper, f"{metric}: arm minus {control} ({level}% interval)")


def write_page(
    name: str,
    title: str,
    intro: str,
    table: pd.DataFrame,
    figs: list[tuple[str, str, Any]],
    out: Path | None,
    kind: str = "experiments",
) -> Path:
    """Write one page (a table and figures) to ``<reports>/<kind>/<name>/report.html``; return its path."""
    folder = (out or reports_dir()) / kind / name
    figures = [Figure(key, caption, fig) for key, caption, fig in figs]
    return page.write_page(folder, title, Markup(f"<p>{intro}</p>"), [Table(table)], figures)


def write_lift_report(analysis: str, table: pd.DataFrame, out: Path | None = None) -> Path:
    """Write the report of one ``targeting lift`` analysis; return the HTML path."""
    # figure files are numbered: metric and arm names are data, never parts of a path
    figs = [
        (
            f"lift_{i}",
            f"Lift of {arm} over control on {metric}, per {table['grouping'].iloc[0]}",
            _lift_forest(rows, str(metric)),
        )
        for i, ((metric, arm), rows) in enumerate(table.groupby(["metric", "arm"], sort=True))
    ]
    cols = ["metric", "arm", "level", "group_value", "n_treated", "n_control", "mean_treated", "mean_control"]
    cols += [
        "diff",
        "diff_lower",
        "diff_upper",
        "p_value",
        "p_value_holm",
        "pooled_mean",
        "pooled_lower",
        "pooled_upper",
    ]
    cols += ["prob_positive", "tau_mean"]
    adjusted = ""
    if "covariates" in table.columns and table["covariates"].notna().any():
        cols += ["adj_diff", "adj_diff_lower", "adj_diff_upper", "variance_reduction"]
        adjusted = (
            f" <b>Regression adjustment</b> on {html.escape(str(table['covariates'].iloc[0]))} "
            "(adj_ columns, slopes fitted within each group): the partial pooling uses the adjusted "
            "differences."
        )
    intro = (
        f"Source: {html.escape(str(table['source'].iloc[0]))}. Lift is treatment minus control in the "
        "outcome window. <b>No pooling</b>: each group on its own (two-proportion z or Welch t, 90% "
        "confidence, Holm-corrected p-values). <b>Partial pooling</b>: a normal hierarchical model across "
        "groups (exact on a grid of the between-group spread tau), 90% credible intervals; the pooled row "
        "is the mean lift across groups." + adjusted
    )
    return write_page(f"lift_{analysis}", f"Holdout lift: {analysis}", intro, table[cols], figs, out)


def write_abtest_report(experiment: str, table: pd.DataFrame, out: Path | None = None) -> Path:
    """Write the report of one ``targeting abtest`` experiment; return the HTML path."""
    control = str(table["control_arm"].iloc[0])
    level = round(100 * (1 - float(table["alpha"].iloc[0])))
    figs = []
    for i, (metric, rows) in enumerate(table.groupby("metric", sort=False)):
        rows = rows.reset_index(drop=True)
        figs.append((f"arms_{i}", f"{metric}: each arm's value", _arm_values(rows, str(metric))))
        if (rows["arm"] != control).any():
            figs.append(
                (
                    f"diff_{i}",
                    f"{metric}: difference from {control}, with its interval",
                    _differences(rows, control, str(metric), level),
                )
            )
    cols = ["metric", "metric_kind", "arm", "n_units", "value", "value_lower", "value_upper", "diff"]
    cols += ["diff_se", "diff_lower", "diff_upper", "p_value", "p_value_holm", "prob_best", "expected_loss"]
    notes = []
    if "covariates" in table.columns and table["covariates"].notna().any():
        cols += ["adj_diff", "adj_diff_se", "adj_diff_lower", "adj_diff_upper", "adj_p_value"]
        cols.append("variance_reduction")
        notes.append(
            f"adj_ columns: regression-adjusted (CUPED) on {html.escape(str(table['covariates'].iloc[0]))}, "
            "with the share of the difference's variance removed."
        )
    if "seq_p_value" in table.columns and table["seq_p_value"].notna().any():
        cols += ["seq_looks", "seq_p_value", "seq_diff_lower", "seq_diff_upper"]
        notes.append(
            "seq_ columns: always-valid p-value and confidence sequence (mixture SPRT), valid however "
            "many times the test was looked at."
        )
    cols.append("srm_ok")
    srm = "passed" if bool(table["srm_ok"].iloc[0]) else "FAILED: do not trust these comparisons"
    intro = (
        f"Source: {html.escape(str(table['source'].iloc[0]))}. Sample ratio check {srm} "
        f"(p = {float(table['srm_p_value'].iloc[0]):.3g}). Intervals are {level}%: Bayesian for arm values "
        "(Beta-Binomial for rates, reference posterior for means), frequentist for differences; "
        "p_value is each comparison's own, p_value_holm Holm-corrected across the experiment's "
        "comparisons. " + " ".join(notes)
    )
    return write_page(f"abtest_{experiment}", f"A/B test: {experiment}", intro, table[cols], figs, out)


def _qini_figure(holdout: pd.DataFrame, control: str, arm: str, title: str) -> Any:
    """Qini curves of the uplift and propensity rankings over the random-targeting line."""
    from targeting.uplift import stats as upliftstats

    plt = _plt()
    rows = holdout[holdout["assigned_arm"].isin([arm, control])]
    treated = (rows["assigned_arm"] == arm).to_numpy()
    y = rows["outcome"].to_numpy()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for column, name, colour in (
        ("uplift_mean", "by predicted uplift", "tab:blue"),
        ("p_control", "by propensity", "tab:orange"),
    ):
        x, q = upliftstats.qini_curve(y, treated, rows[column].to_numpy())
        auc = upliftstats.qini_auc(y, treated, rows[column].to_numpy())
        ax.plot(x, q, color=colour, label=f"{name} (Qini AUC {auc:.4f})")
    ax.plot([0, 1], [0, q[-1]], color="grey", ls="--", label="random targeting")
    ax.set_xlabel("share of held-out units targeted")
    ax.set_ylabel("incremental conversions per unit")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def write_uplift_report(
    run_id: str, scores: pd.DataFrame, evaluations: pd.DataFrame, out: Path | None = None
) -> Path:
    """Write the report of one ``targeting uplift`` run; return the HTML path."""
    holdout = scores[scores["split"] == "holdout"]
    control = str(scores["control_arm"].iloc[0])
    figs = [
        (
            f"qini_{i}",
            f"Qini curves, held-out half: {model}, {arm} vs {control}",
            _qini_figure(rows, control, str(arm), f"{model}: {arm}"),
        )
        for i, ((model, arm), rows) in enumerate(holdout.groupby(["model", "arm"], sort=True))
    ]
    cols = ["model", "arm", "ranking", "metric", "value", "lower", "upper", "n_units"]
    intro = (
        f"Diagnostics: {html.escape(str(evaluations['diagnostics'].iloc[0]))}. Metrics on the held-out half "
        "(90% bootstrap intervals, resampling units within arms). Qini AUC: the area between the Qini "
        "curve and random targeting, in incremental conversions per unit; uplift_top_k: treated minus "
        "control conversion rate among the top k% by the ranking. The propensity ranking targets the "
        "units most likely to buy under the control (buyers who would buy anyway)."
    )
    return write_page(run_id, f"Uplift: {run_id}", intro, evaluations[cols], figs, out, kind="uplift")
