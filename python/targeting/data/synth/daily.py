"""The wide daily campaign tables (capped like the real export)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from targeting.data.synth.campaigns import Campaigns
from targeting.data.synth.config import DAY_SECONDS, EPOCH_START, MESSAGE_FIRST_DAY, MESSAGE_LAST_DAY
from targeting.data.synth.messages import CHANNELS, format_seconds


def daily_aggregate(events: pd.DataFrame, campaigns: Campaigns) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Count events and distinct clients per day and campaign: overall and by channel."""
    day = events["seconds"].to_numpy() // DAY_SECONDS
    frame = pd.DataFrame(
        {
            "day": day,
            "campaign": campaigns.bulk_campaign_id[events["campaign_idx"].to_numpy()],
            "event": events["event"].to_numpy(),
            "channel": CHANNELS[events["channel"].to_numpy()],
            "client": events["client_idx"].to_numpy(),
        }
    )
    by_event = frame.groupby(["day", "campaign", "event"]).agg(
        count=("client", "size"), nunique=("client", "nunique")
    )
    by_channel = frame.groupby(["day", "campaign", "event", "channel"]).agg(
        count=("client", "size"), nunique=("client", "nunique")
    )
    return by_event.reset_index(), by_channel.reset_index()


def wide_daily(long: pd.DataFrame, columns: list[str], with_channel: bool) -> pa.Table:
    """Pivot long daily counts into the real export's wide layout and column order."""
    key = long["event"] + ("_" + long["channel"] if with_channel else "")
    long = long.assign(key=key)
    wide = long.pivot_table(
        index=["day", "campaign"],
        columns="key",
        values=["count", "nunique"],
        fill_value=0,
        aggfunc="sum",
    )
    wide.columns = [f"{pair[0]}_{pair[1]}" for pair in wide.columns]
    wide = wide.reset_index().sort_values(["day", "campaign"], kind="stable")
    out: dict[str, pa.Array] = {
        "date": format_seconds(wide["day"].to_numpy() * DAY_SECONDS, "%Y-%m-%d"),
        "bulk_campaign_id": pa.array(wide["campaign"].to_numpy().astype(np.int64)),
    }
    for col in columns:
        values = wide[col].to_numpy() if col in wide else np.zeros(len(wide), dtype=np.int64)
        out[col] = pa.array(values.astype(np.int64))
    return pa.table(out)


def extra_daily_campaigns(rng: np.random.Generator, campaigns: Campaigns, n: int) -> pd.DataFrame:
    """Daily rows for campaigns that never appear in the messages file (ids up to 15,150)."""
    ids = rng.integers(14_658, 15_151, size=n)
    day = rng.integers(MESSAGE_FIRST_DAY, MESSAGE_LAST_DAY + 1, size=n)
    base = (EPOCH_START - np.datetime64("1970-01-01")).astype("timedelta64[D]").astype(np.int64)
    count = rng.integers(1, 40, size=n)
    return pd.DataFrame(
        {
            "day": base + day,
            "campaign": ids,
            "event": "open",
            "channel": rng.choice(CHANNELS, size=n),
            "count": count,
            "nunique": np.maximum(1, count - rng.integers(0, 3, size=n)),
        }
    )
