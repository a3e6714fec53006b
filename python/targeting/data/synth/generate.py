"""``generate``: every raw file of the layout, plus ground truth and A/B assignments."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from targeting.core import layout
from targeting.data.synth.campaigns import campaign_audience, simulate_campaigns
from targeting.data.synth.clients import (
    sigmoid,
    simulate_clients,
    simulate_repeat_orders,
    true_purchase_probability,
)
from targeting.data.synth.config import DAILY_ROW_CAP, DATA_DAYS, EPOCH_START, SynthConfig
from targeting.data.synth.daily import daily_aggregate, extra_daily_campaigns, wide_daily
from targeting.data.synth.messages import ForcedSends, event_rows, message_table
from targeting.data.synth.purchases import attribute_orders, category_catalogue, purchase_lines
from targeting.data.synth.writers import TableSink, chunks, write_truth, write_whole


def generate(cfg: SynthConfig, progress: bool = True) -> dict[str, int]:
    """Write the five raw files (plus ground truth and A/B assignments) to ``cfg.out``.

    Parameters
    ----------
    cfg
        What to generate.
    progress
        Print progress to standard error.

    Returns
    -------
    dict
        Rows written per file.

    """
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ground_truth").mkdir(exist_ok=True)
    ext = cfg.fmt
    rng = np.random.default_rng(cfg.seed)
    catalogue = category_catalogue(rng)
    clients = simulate_clients(cfg, rng, len(catalogue))
    campaigns = simulate_campaigns(cfg, rng)
    eff = cfg.effects

    def say(msg: str) -> None:
        if progress:
            print(f"[synth] {msg}", file=sys.stderr, flush=True)

    say(
        f"{clients.is_buyer.sum():,} buyers, {(~clients.is_buyer).sum():,} message-only clients, "
        f"{campaigns.day.size:,} campaigns"
    )

    # Orders: acquisition, repeats, and A/B treatment responses.
    buyers = np.flatnonzero(clients.is_buyer)
    rep_client, rep_day = simulate_repeat_orders(cfg, clients, rng)
    order_client = np.concatenate([buyers, rep_client])
    order_day = np.concatenate([clients.acquired_day[buyers], rep_day])
    order_campaign = attribute_orders(cfg, clients, campaigns, order_client, order_day, rng)

    ab_rows: list[pd.DataFrame] = []
    holdout: dict[int, np.ndarray] = {}
    if cfg.ab_test:
        late = np.flatnonzero(campaigns.day < DATA_DAYS - eff.uplift_window_days - 30)
        n_ab = cfg.ab_campaigns or max(2, round(6 * min(cfg.scale, 1) ** 0.5))
        pool = late[-min(late.size, 200) :]
        if n_ab > pool.size:
            raise ValueError(
                f"--ab-campaigns {n_ab} is more than the {pool.size} late campaigns to hold out from"
            )
        ab_campaigns = rng.choice(pool, size=n_ab, replace=False)
        for k in np.sort(ab_campaigns):
            audience = campaign_audience(cfg, clients, campaigns, int(k), buyers_only=True)
            control = rng.random(audience.size) < eff.ab_control_share
            u = clients.engagement[audience]
            uplift = eff.uplift_base + eff.uplift_engagement_max * sigmoid(1.5 * u - 0.5)
            respond = (~control) & (rng.random(audience.size) < uplift)
            extra_day = campaigns.day[k] + rng.integers(0, eff.uplift_window_days, respond.sum())
            order_client = np.concatenate([order_client, audience[respond]])
            order_day = np.concatenate([order_day, extra_day])
            order_campaign = np.concatenate([order_campaign, np.full(respond.sum(), k)])
            holdout[int(k)] = audience[control]
            ab_rows.append(
                pd.DataFrame(
                    {
                        "client_id": clients.client_id[audience],
                        "bulk_campaign_id": campaigns.bulk_campaign_id[k],
                        "variant": np.where(control, "control", "treatment"),
                        "assigned_at": pd.Timestamp(str(EPOCH_START))
                        + pd.to_timedelta(campaigns.day[k], unit="D"),
                        "true_uplift": uplift,
                    }
                )
            )

    # Purchases file (small: written in one go).
    lines = purchase_lines(clients, campaigns, order_client, order_day, order_campaign, catalogue, rng)
    write_whole(lines, out / f"{layout.PURCHASES}.{ext}", ext)
    say(f"wrote {lines.num_rows:,} purchase lines from {order_client.size:,} orders")

    # Target file: the label of the cutoff right after the data ends.
    cutoff = DATA_DAYS + 1
    p_true = true_purchase_probability(cfg, clients, cutoff)
    label = (rng.random(p_true.size) < p_true).astype(np.int64)
    buyer_ids = clients.client_id[buyers]
    targets = pa.table({"client_id": pa.array(buyer_ids), "target": pa.array(label[buyers])})
    write_whole(targets.take(pa.array(np.argsort(buyer_ids))), out / f"{layout.TARGETS}.{ext}", ext)
    say(f"wrote {buyers.size:,} target rows, {label[buyers].mean():.2%} positive")

    # Messages: campaign by campaign, streamed.
    forced = ForcedSends(
        client_idx=order_client,
        campaign_idx=order_campaign,
        order_day=order_day,
        purchase_event=rng.random(order_client.size) < 0.75,
    )
    forced_sort = np.argsort(forced.campaign_idx, kind="stable")
    forced_bounds = np.searchsorted(forced.campaign_idx[forced_sort], np.arange(campaigns.day.size + 1))
    sink = TableSink(out / f"{layout.MESSAGES}.{ext}", ext)
    daily_event: list[pd.DataFrame] = []
    daily_channel: list[pd.DataFrame] = []
    chunk_size = max(1, int(250_000 / (campaigns.mean_audience * 1.5)))  # ~250k rows a chunk
    n_campaigns = campaigns.day.size
    for chunk in chunks(n_campaigns, chunk_size):
        frames = []
        for k in chunk:
            audience = campaign_audience(cfg, clients, campaigns, k)
            if k in holdout:
                audience = np.setdiff1d(audience, holdout[k])
            rows = forced_sort[forced_bounds[k] : forced_bounds[k + 1]]
            events = event_rows(cfg, clients, campaigns, k, audience, forced, rows, rng)
            frames.append(events.assign(campaign_idx=k))
        events = pd.concat(frames, ignore_index=True)
        sink.write(message_table(events, clients, campaigns, rng))
        by_event, by_channel = daily_aggregate(events, campaigns)
        daily_event.append(by_event)
        daily_channel.append(by_channel)
        say(f"messages: campaigns {chunk.stop:,}/{n_campaigns:,}, {sink.rows:,} rows")
    sink.close()

    # Daily tables: the real untidy column order, capped like the real export.
    extra = extra_daily_campaigns(rng, campaigns, max(5, round(300 * cfg.scale)))
    ev = pd.concat(daily_event + [extra.drop(columns="channel")], ignore_index=True)
    ch = pd.concat(daily_channel + [extra], ignore_index=True)
    daily = wide_daily(ev, layout.DAILY_EVENT_COLUMNS, with_channel=False).slice(0, DAILY_ROW_CAP)
    daily_ch = wide_daily(ch, layout.DAILY_CHANNEL_COLUMNS, with_channel=True).slice(0, DAILY_ROW_CAP)
    write_whole(daily, out / f"{layout.CAMPAIGN_DAILY}.{ext}", ext)
    write_whole(daily_ch, out / f"{layout.CAMPAIGN_CHANNEL_DAILY}.{ext}", ext)
    say(f"wrote {daily.num_rows:,} daily and {daily_ch.num_rows:,} daily-by-channel rows")

    counts = {
        layout.PURCHASES: lines.num_rows,
        layout.MESSAGES: sink.rows,
        layout.TARGETS: targets.num_rows,
        layout.CAMPAIGN_DAILY: daily.num_rows,
        layout.CAMPAIGN_CHANNEL_DAILY: daily_ch.num_rows,
    }
    if ab_rows:
        ab = pd.concat(ab_rows, ignore_index=True)
        assignments = pa.Table.from_pandas(ab.drop(columns="true_uplift"), preserve_index=False)
        assignments = assignments.set_column(
            3,
            "assigned_at",
            pc.strftime(assignments["assigned_at"].cast(pa.timestamp("s")), format="%Y-%m-%d %H:%M:%S"),
        )
        write_whole(assignments, out / f"{layout.ASSIGNMENTS}.{ext}", ext)
        ab[["client_id", "bulk_campaign_id", "variant", "true_uplift"]].to_parquet(
            out / "ground_truth" / "ab_true_uplift.parquet", index=False
        )
        counts[layout.ASSIGNMENTS] = len(ab)
    write_truth(cfg, clients, p_true, label, out / "ground_truth")
    return counts
