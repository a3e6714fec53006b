"""The HTML page of a segmentation run: k selection, cluster sizes, profiles, a 2-D view."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from targeting.core.settings import reports_dir
from targeting.reports.figures import pyplot as _plt
from targeting.reports.page import Figure, Table, write_page

if TYPE_CHECKING:  # the result type only: a report does not import the command
    from targeting.segments.kmeans import SegmentResult


def _selection(result: SegmentResult) -> Any:
    plt = _plt()
    sel, run = result.selection, result.run
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.4))
    a1.plot(sel["k"], sel["silhouette"], "o-")
    a1.set_xlabel("k")
    a1.set_ylabel("silhouette (sample)")
    a1.axvline(run["k"], color="tab:red", lw=1, label=f"chosen k={run['k']}")
    a1.legend(fontsize=8)
    a2.plot(sel["k"], sel["inertia"], "o-", color="tab:grey")
    a2.axvline(run["elbow_k"], color="tab:orange", lw=1, label=f"elbow k={run['elbow_k']}")
    a2.set_xlabel("k")
    a2.set_ylabel("inertia (sample)")
    a2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _heatmap(result: SegmentResult) -> Any:
    plt = _plt()
    wide = result.profiles.pivot(index="feature", columns="cluster", values="z_centre")
    wide = wide.loc[list(dict.fromkeys(result.profiles["feature"]))]
    fig, ax = plt.subplots(figsize=(1.1 * wide.shape[1] + 3, 0.4 * wide.shape[0] + 1.5))
    lim = max(1.0, float(np.nanmax(np.abs(wide.to_numpy()))))
    im = ax.imshow(wide.to_numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(wide.shape[1]), [f"cluster {c}" for c in wide.columns], fontsize=8)
    ax.set_yticks(range(wide.shape[0]), wide.index, fontsize=8)
    for (i, j), v in np.ndenumerate(wide.to_numpy()):
        ax.text(j, i, f"{v:+.1f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="standardised centre")
    fig.tight_layout()
    return fig


def _scatter(result: SegmentResult) -> Any:
    plt = _plt()
    x = result.x_sample - result.x_sample.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    xy = x @ vt[:2].T
    fig, ax = plt.subplots(figsize=(6, 5))
    for c in np.unique(result.labels_sample):
        m = result.labels_sample == c
        ax.scatter(xy[m, 0], xy[m, 1], s=5, alpha=0.5, label=f"cluster {c}")
    ax.set_xlabel("principal component 1")
    ax.set_ylabel("principal component 2")
    ax.legend(fontsize=8, markerscale=3)
    fig.tight_layout()
    return fig


def write_segment_report(result: SegmentResult, out: Path | None = None) -> Path:
    """Write ``<reports>/segments/<run_id>/report.html`` with its figures; return the path."""
    figures = [
        Figure(key, title, maker(result))
        for key, title, maker in (
            ("selection", "Choosing k: silhouette and inertia per k", _selection),
            ("profiles", "Cluster profiles: standardised centre per feature", _heatmap),
            ("scatter", "Customers on the first two principal components (sample)", _scatter),
        )
    ]
    run = result.run
    sizes = result.sizes()
    means = result.profiles.pivot(index="cluster", columns="feature", values="mean_value")
    table = sizes.set_index("cluster").join(means).reset_index()
    overall = result.profiles.drop_duplicates("feature").set_index("feature")["overall_mean"]
    overall_row = pd.DataFrame(
        [{"cluster": "all", "n_clients": run["n_rows"], "share": 1.0, **overall.to_dict()}]
    )
    table = pd.concat([table.astype({"cluster": str}), overall_row], ignore_index=True)
    where = f" at {run['as_of_date']}" if run["as_of_date"] is not None else ""
    intro = Markup(
        "<p>{:,} customers of {}{} in <b>k = {}</b> clusters ({}; best silhouette at k = {}, elbow at "
        "k = {}); silhouette {:.3f}. Features: {} (log1p: {}), standardised; seed {}. BI: "
        "<code>marts.segment_profiles</code> adds each cluster's label rate and mean score.</p>"
    ).format(
        run["n_rows"],
        run["relation"],
        where,
        run["k"],
        run["k_method"],
        run["best_silhouette_k"],
        run["elbow_k"],
        run["silhouette"],
        run["features"],
        run["log_features"] or "none",
        run["seed"],
    )
    folder = (out or reports_dir()) / "segments" / result.run_id
    tables = [Table(table, "Cluster sizes and feature means")]
    return write_page(folder, f"Segments: {result.run_id}", intro, tables, figures)
