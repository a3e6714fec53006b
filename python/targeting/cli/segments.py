"""``segment``: k-means customer segments.

Each command's options are declared beside it; the logic lives in ``targeting.segments``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from targeting.cli.common import (
    add_db,
    add_no_write,
    add_quiet,
)


def add_segment(sub: Any) -> None:
    """Add ``targeting segment`` and its options."""
    seg = sub.add_parser(
        "segment",
        help="k-means customer segments on standardised behavioural features (k by silhouette, elbow shown)",
        description=(
            "Cluster the segmentation spec's rows (the latest cutoff when it has as_of) with k-means on "
            "standardised features (log1p where non-negative and right-skewed). --k auto picks the best "
            "silhouette in the spec's k_range on a seeded sample and reports the inertia elbow beside "
            "it. Writes ml.segment_runs, ml.customer_clusters and ml.cluster_profiles (staged by dbt "
            "into marts.segment_profiles) and reports/segments/<run>/report.html."
        ),
    )
    seg.add_argument("--spec", required=True, help="segmentation spec YAML (see python/specs/segments.yml)")
    add_db(seg, "warehouse file (read and written)")
    seg.add_argument("--k", help="auto or a whole number >= 2 (default: the spec's k)")
    add_no_write(seg, "print the clusters only")
    add_quiet(seg, "no progress output")
    seg.set_defaults(func=_cmd_segment)


def _cmd_segment(args: argparse.Namespace) -> int:
    import dataclasses

    import pandas as pd

    from targeting.core.warehouse import write_segments
    from targeting.reports.segments import write_segment_report
    from targeting.segments.kmeans import run_segment
    from targeting.segments.spec import load_segment_spec, parse_k

    spec = load_segment_spec(args.spec)
    if args.k is not None:
        spec = dataclasses.replace(spec, k=parse_k(args.k, "--k"))
    result = run_segment(spec, Path(args.db), progress=not args.quiet)
    table = result.sizes().set_index("cluster").join(result.top_features()).reset_index()
    with pd.option_context("display.width", 200, "display.max_colwidth", 80):
        print(table.to_string(index=False))
    run = result.run
    print(
        f"k={run['k']} ({run['k_method']}; best silhouette k={run['best_silhouette_k']}, "
        f"elbow k={run['elbow_k']}), silhouette {run['silhouette']:.3f}, {run['n_rows']:,} customers"
    )
    if args.no_write:
        return 0
    write_segments(Path(args.db), result.run_id, pd.DataFrame([run]), result.clusters, result.profiles)
    print(f"wrote run {result.run_id} to ml.segment_runs, ml.customer_clusters and ml.cluster_profiles")
    print(f"report: {write_segment_report(result)}")
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to the ``targeting`` subparsers."""
    add_segment(sub)
