"""The page of one ``targeting clv`` run: calibration by decile, P(alive) and value figures.

Written to ``<reports>/clv/<run>/report.html`` with its PNG files beside it, from the same
tables that go to the warehouse.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from targeting.reports.experiments import write_page
from targeting.reports.figures import pyplot as _plt

if TYPE_CHECKING:  # the result type only: a report does not import the command
    from targeting.value.clv import ClvResult


def _calibration(evaluations: pd.DataFrame) -> Any:
    """Predicted against actual purchases per customer, by decile, for the model and the naive baseline."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for model, colour, label in (
        ("bgnbd", "tab:blue", "BG/NBD"),
        ("naive", "tab:orange", "naive (rate so far)"),
    ):
        t = evaluations[(evaluations["model"] == model) & (evaluations["decile"] > 0)].sort_values("decile")
        ax.plot(
            t["decile"],
            t["actual_purchases"] / t["n_customers"],
            "o-",
            color=colour,
            label=f"{label}: actual",
        )
        ax.plot(
            t["decile"],
            t["predicted_purchases"] / t["n_customers"],
            "x--",
            color=colour,
            label=f"{label}: predicted",
        )
    ax.set_xlabel("decile of predicted purchases (each model its own)")
    ax.set_ylabel("purchases per customer in the window")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _alive(customers: pd.DataFrame) -> Any:
    """Histogram of P(alive) over the customers scored."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(customers["p_alive"], bins=np.linspace(0, 1, 41), color="tab:green")
    ax.set_xlabel("P(alive)")
    ax.set_ylabel("customers")
    fig.tight_layout()
    return fig


def _value(customers: pd.DataFrame) -> Any:
    """Plot expected purchases against value over the horizon (log scales), coloured by P(alive)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    points = ax.scatter(
        customers["expected_purchases"].clip(lower=1e-4),
        customers["clv"].clip(lower=1e-2),
        c=customers["p_alive"],
        s=6,
        cmap="viridis",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("expected purchases over the horizon")
    ax.set_ylabel("expected value over the horizon")
    fig.colorbar(points, ax=ax, label="P(alive)")
    fig.tight_layout()
    return fig


def write_clv_report(result: ClvResult, out: Path | None = None) -> Path:
    """Write the page of one CLV run; return the HTML path."""
    figs = [("alive", "P(alive) of the customers scored", _alive(result.customers))]
    figs.append(("value", "Expected purchases and value per customer", _value(result.customers)))
    run = result.run
    if not result.evaluations.empty:
        figs.insert(
            0,
            (
                "calibration",
                "Out of time: purchases per customer by decile",
                _calibration(result.evaluations),
            ),
        )
        table = result.evaluations.drop(columns=["as_of_date"]).round(3)
        evaluation = (
            f" Out of time: fitted on the cutoff {run['eval_as_of_date']}, {run['eval_customers']:,} "
            f"customers predicted {run['eval_predicted_purchases']:,.0f} purchases in the next "
            f"{run['horizon']:g} and made "
            f"{run['eval_actual_purchases']:,.0f}; mean error per decile {run['eval_decile_error']:.3f} "
            f"(naive {run['eval_decile_error_naive']:.3f}); rank correlation {run['eval_spearman']:.3f}."
        )
    else:
        table = result.customers.describe().T.round(3).reset_index().rename(columns={"index": "column"})
        evaluation = " No evaluation in the spec."
    params = ", ".join(
        f"{k.removeprefix('param_')} {v:.3g}" for k, v in run.items() if k.startswith("param_")
    )
    intro = (
        f"Source: {html.escape(str(run['relation']))}; {run['n_customers']:,} customers, "
        f"{run['n_repeat_buyers']:,} with repeat purchases; horizon {run['horizon']:g}; "
        f"{html.escape(str(run['method']))}. Parameters (posterior means): {html.escape(params)}. "
        f"Fits: {html.escape(str(run['diagnostics']))}." + evaluation
    )
    return write_page(
        result.run_id, f"Customer lifetime value: {result.run_id}", intro, table, figs, out, kind="clv"
    )
