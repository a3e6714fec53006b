"""The core engagement and RFM features in pandas, the way public notebooks compute them.

Kept under benchmarks/ only, as the baseline the dbt mart is timed against (not product code).
For each cutoff: read every event before it, count sends/opens/clicks/purchases per client and
channel over 30/90/365 days, and orders/revenue per client over the same windows.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def pandas_features(raw: Path, cutoffs: list[pd.Timestamp]) -> pd.DataFrame:
    """Compute windowed message counts and RFM per (client, cutoff) with pandas groupbys."""
    messages = pd.read_csv(
        raw / "apparel-messages.csv",
        usecols=["client_id", "event", "channel", "date"],
        dtype={"client_id": "int64", "event": "category", "channel": "category"},
        parse_dates=["date"],
    ).drop_duplicates()
    purchases = pd.read_csv(raw / "apparel-purchases.csv", parse_dates=["date"])
    purchases["revenue"] = purchases["quantity"] * purchases["price"]
    frames = []
    for cutoff in cutoffs:
        before = messages[messages["date"] < cutoff]
        parts = []
        for days in (30, 90, 365):
            window = before[before["date"] >= cutoff - pd.Timedelta(days=days)]
            counts = (
                window.groupby(["client_id", "channel", "event"], observed=True)
                .size()
                .unstack(["channel", "event"], fill_value=0)
            )
            counts.columns = [f"{e}_{c}_{days}d" for c, e in counts.columns]
            parts.append(counts)
        bought = purchases[purchases["date"] < cutoff]
        orders = bought.groupby(["client_id", "date", "message_id"])["revenue"].sum().reset_index()
        for days in (30, 90, 365):
            w = orders[orders["date"] >= cutoff - pd.Timedelta(days=days)]
            g = w.groupby("client_id")["revenue"].agg(["count", "sum"])
            g.columns = [f"orders_{days}d", f"revenue_{days}d"]
            parts.append(g)
        last = orders.groupby("client_id")["date"].max()
        parts.append(((cutoff - last).dt.days).rename("days_since_last_order").to_frame())
        frame = pd.concat(parts, axis=1).fillna(0)
        frame["as_of_date"] = cutoff
        frames.append(frame.reset_index())
    return pd.concat(frames, ignore_index=True)
