"""Figure helpers shared by every report page: a headless pyplot and PNG output."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """Return ``matplotlib.pyplot`` on the non-interactive Agg backend (imported on first use).

    Returns
    -------
    module
        ``matplotlib.pyplot``.

    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(fig: Any, path: Path) -> bytes:
    """Save a figure as PNG to ``path``, close it and return the bytes.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure; it is closed afterwards.
    path : Path
        Where the PNG goes (beside the page).

    Returns
    -------
    bytes
        The PNG data (the page embeds it).

    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    pyplot().close(fig)
    data = buf.getvalue()
    path.write_bytes(data)
    return data


def interval_plot(
    labels: list[str], value: Any, lower: Any, upper: Any, xlabel: str, zero_line: bool = True
) -> Any:
    """Plot one point with its interval per label, top to bottom.

    Parameters
    ----------
    labels : list of str
        One row label per point.
    value, lower, upper : array-like
        Point estimates and interval ends (NaN ends draw no bar).
    xlabel : str
        The x axis label.
    zero_line : bool
        Draw a vertical line at 0 (for differences).

    Returns
    -------
    matplotlib.figure.Figure
        The figure.

    """
    import numpy as np

    plt = pyplot()
    v, lo, hi = (np.asarray(a, dtype=float) for a in (value, lower, upper))
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(labels) + 1.5))
    pos = np.arange(len(labels))
    err = [np.nan_to_num(np.clip(v - lo, 0, None)), np.nan_to_num(np.clip(hi - v, 0, None))]
    ax.errorbar(v, pos, xerr=err, fmt="o", color="tab:blue")
    if zero_line:
        ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(pos, labels)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    fig.tight_layout()
    return fig
