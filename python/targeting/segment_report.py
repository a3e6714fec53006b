"""The HTML page of a segmentation run: k selection, cluster sizes, profiles, a 2-D view."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from targeting.report import _plt, _png
from targeting.segment import SegmentResult
from targeting.settings import reports_dir


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
    folder = (out or reports_dir()) / "segments" / result.run_id
    folder.mkdir(parents=True, exist_ok=True)
    figures = []
    for key, title, maker in (
        ("selection", "Choosing k: silhouette and inertia per k", _selection),
        ("profiles", "Cluster profiles: standardised centre per feature", _heatmap),
        ("scatter", "Customers on the first two principal components (sample)", _scatter),
    ):
        data = _png(maker(result), folder / f"{key}.png")
        figures.append((title, base64.b64encode(data).decode()))
    run = result.run
    sizes = result.sizes()
    means = result.profiles.pivot(index="cluster", columns="feature", values="mean_value")
    table = sizes.set_index("cluster").join(means).reset_index()
    overall = result.profiles.drop_duplicates("feature").set_index("feature")["overall_mean"]
    overall_row = pd.DataFrame(
        [{"cluster": "all", "n_clients": run["n_rows"], "share": 1.0, **overall.to_dict()}]
    )
    table = pd.concat([table.astype({"cluster": str}), overall_row], ignore_index=True)
    imgs = "\n".join(
        f'<figure><figcaption>{html.escape(t)}</figcaption><img class="figure" alt="{html.escape(t)}" '
        f'src="data:image/png;base64,{b}"></figure>'
        for t, b in figures
    )
    where = f" at {run['as_of_date']}" if run["as_of_date"] is not None else ""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Segments {html.escape(result.run_id)}</title>
<style>body {{ font-family: sans-serif; margin: 2em; max-width: 1200px; }}
table {{ border-collapse: collapse; font-size: 13px; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; }}
img.figure {{ max-width: 100%; }} figcaption {{ font-weight: bold; }}</style></head>
<body data-figures-expected="{len(figures)}">
<h1>Segments: {html.escape(result.run_id)}</h1>
<p>{run["n_rows"]:,} customers of {html.escape(str(run["relation"]))}{html.escape(where)} in
<b>k = {run["k"]}</b> clusters ({html.escape(str(run["k_method"]))}; best silhouette at
k = {run["best_silhouette_k"]}, elbow at k = {run["elbow_k"]}); silhouette {run["silhouette"]:.3f}.
Features: {html.escape(str(run["features"]))} (log1p: {html.escape(str(run["log_features"]) or "none")}),
standardised; seed {run["seed"]}. BI: <code>marts.segment_profiles</code> adds each cluster's
purchase rate and mean score.</p>
<h2>Cluster sizes and feature means</h2>
{table.to_html(index=False, float_format=lambda v: f"{v:,.3f}")}
<h2>Figures</h2>
{imgs}
</body></html>
"""
    path = folder / "report.html"
    path.write_text(page)
    return path
