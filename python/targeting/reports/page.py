"""One page layout for every report: a Jinja2 template, tables formatted for people.

A page is a title, an introduction (HTML built with escaped values), tables and figures. Each
figure is written as a PNG beside the page and embedded in it, so the page is one file a
browser opens offline. Tables are rounded for people (three significant digits, thousands
separators, a dash for a missing value) and wrap inside the page's width; the script at the
bottom of the page records, for a headless browser, that every figure decoded and that no
table is wider than the page.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup, escape

from targeting.reports.figures import png

TEMPLATES = Path(__file__).resolve().parent / "templates"
MISSING = "\u2013"


@dataclass(frozen=True)
class Figure:
    """A figure of a page: ``key`` names its PNG file (a fixed word or a number, never data)."""

    key: str
    caption: str
    fig: Any


@dataclass(frozen=True)
class Table:
    """A table of a page, with an optional heading and a note (HTML) above it."""

    frame: pd.DataFrame
    heading: str = ""
    note: Markup = field(default_factory=lambda: Markup(""))


def number(value: float) -> str:
    """Format a number for people: thousands separators, three significant digits.

    Parameters
    ----------
    value : float
        A finite number.

    Returns
    -------
    str
        ``1,234``, ``12.3``, ``0.0456``, ``1.2e-05``.

    """
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 0.001:
        return f"{value:.3g}"
    return f"{value:.2g}"


def cell(value: object) -> tuple[str, str]:
    """Return a value's text and CSS class for a table cell."""
    if value is None or value is pd.NA or value is pd.NaT:
        return MISSING, "missing"
    if isinstance(value, bool | np.bool_):
        return ("yes" if value else "no"), "text"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}", ""
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return MISSING, "missing"
        return (number(v) if math.isfinite(v) else str(v)), ""
    if isinstance(value, pd.Timestamp | dt.datetime):
        stamp = pd.Timestamp(value)
        return (str(stamp.date()) if stamp == stamp.normalize() else str(stamp)), "text"
    return str(value), "text"


def header(name: str) -> Markup:
    """Return a column name escaped, with a line-break opportunity after each underscore."""
    return Markup("_<wbr>").join(escape(part) for part in str(name).split("_"))


def table_html(frame: pd.DataFrame) -> Markup:
    """Render a frame as an HTML table with every value formatted by :func:`cell` and escaped."""
    head = "".join(f"<th>{header(c)}</th>" for c in frame.columns)
    rows = []
    for values in frame.itertuples(index=False, name=None):
        cells = []
        for value in values:
            text, css = cell(value)
            cls = f' class="{css}"' if css else ""
            cells.append(f"<td{cls}>{escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return Markup(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def render(title: str, intro: Markup, tables: list[Table], images: list[dict[str, str]]) -> str:
    """Render the page template (autoescaped: only ``Markup`` values are inserted as HTML)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    shown = [{"heading": t.heading, "note": t.note, "html": table_html(t.frame)} for t in tables]
    return env.get_template("page.html").render(title=title, intro=intro, tables=shown, figures=images)


def write_page(folder: Path, title: str, intro: Markup, tables: list[Table], figures: list[Figure]) -> Path:
    """Write ``folder/report.html`` and one PNG per figure beside it; return the page's path.

    Parameters
    ----------
    folder : Path
        The page's folder (created).
    title : str
        The page title (escaped).
    intro : Markup
        The introduction, HTML whose values were escaped by the caller.
    tables : list of Table
        The tables, in order.
    figures : list of Figure
        The figures, in order.

    Returns
    -------
    Path
        ``folder/report.html``.

    """
    folder.mkdir(parents=True, exist_ok=True)
    images = [
        {
            "key": f.key,
            "caption": f.caption,
            "data": base64.b64encode(png(f.fig, folder / f"{f.key}.png")).decode(),
        }
        for f in figures
    ]
    path = folder / "report.html"
    path.write_text(render(title, intro, tables, images))
    return path
