"""Message events (send, open, click, ...) of each campaign, with the real id formats."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from targeting.data.synth.campaigns import Campaigns
from targeting.data.synth.clients import Clients, sigmoid
from targeting.data.synth.config import (
    DAY_SECONDS,
    EPOCH_START,
    MESSAGE_FIRST_DAY,
    MESSAGE_LAST_DAY,
    SynthConfig,
)


def _hex_digits(values: np.ndarray, width: int) -> pa.Array:
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    shifts = 4 * np.arange(width - 1, -1, -1, dtype=np.uint64)
    nibbles = (values.astype(np.uint64)[:, None] >> shifts[None, :]) & np.uint64(15)
    chars = digits[nibbles.astype(np.int64)]
    return pa.array(np.ascontiguousarray(chars).view(f"S{width}").ravel()).cast(pa.string())


def message_ids(client_id: np.ndarray, campaign_id: np.ndarray, created: np.ndarray) -> pa.Array:
    """Build "<client_id>-<bulk_campaign_id>-<hex>" ids like the real export."""
    salt = (client_id.astype(np.uint64) * np.uint64(2654435761)) ^ campaign_id.astype(np.uint64)
    hex_part = pc.binary_join_element_wise(
        _hex_digits(created.astype(np.uint64), 8), _hex_digits(salt & np.uint64(0xFFFFF), 5), ""
    )
    return pc.binary_join_element_wise(
        pa.array(client_id).cast(pa.string()),
        pa.array(campaign_id).cast(pa.string()),
        hex_part,
        "-",
    )


def format_seconds(seconds: np.ndarray, fmt: str) -> pa.Array:
    """Format epoch seconds as text with a strftime format."""
    ts = pa.array(seconds.astype("datetime64[s]"))
    return pc.strftime(ts, format=fmt)


def epoch_seconds(day: np.ndarray) -> np.ndarray:
    """Epoch seconds at midnight of each data day (day 0 = the first purchase date)."""
    base = (EPOCH_START - np.datetime64("1970-01-01")).astype("timedelta64[D]").astype(np.int64)
    seconds: np.ndarray = (base + day.astype(np.int64)) * DAY_SECONDS
    return seconds


CHANNELS = np.array(["email", "mobile_push"])


@dataclass
class ForcedSends:
    """Messages that must exist because an order is attributed to them."""

    client_idx: np.ndarray
    campaign_idx: np.ndarray
    order_day: np.ndarray
    purchase_event: np.ndarray


def event_rows(
    cfg: SynthConfig,
    clients: Clients,
    campaigns: Campaigns,
    k: int,
    audience: np.ndarray,
    forced: ForcedSends,
    forced_rows: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """All event rows of one campaign as a frame (client_idx, event, seconds, channel)."""
    eff = cfg.effects
    channel = int(campaigns.channel[k])
    send_s = epoch_seconds(np.array([campaigns.day[k]]))[0] + rng.integers(8, 20) * 3600
    extra = forced.client_idx[forced_rows]
    recipients = np.union1d(audience, extra) if extra.size else audience
    n = recipients.size
    frames: list[pd.DataFrame] = []

    def add(mask_idx: np.ndarray, event: str, seconds: np.ndarray, chan: int = channel) -> None:
        if mask_idx.size:
            frames.append(
                pd.DataFrame({"client_idx": mask_idx, "event": event, "seconds": seconds, "channel": chan})
            )

    jitter = rng.integers(0, 1800, size=n)
    add(recipients, "send", send_s + jitter)
    u = clients.engagement[recipients]
    dead = clients.dead_email[recipients] & (channel == 0)
    hard = dead & (rng.random(n) < 0.45)
    hard |= (channel == 1) & (rng.random(n) < 0.0012)
    add(recipients[hard], "hard_bounce", send_s + jitter[hard] + 5)
    soft = (~hard) & (rng.random(n) < 0.0012)
    add(recipients[soft], "soft_bounce", send_s + jitter[soft] + 7)
    delivered = ~hard & ~soft
    p_open = sigmoid(eff.open_intercept + eff.open_engagement * u - 0.15 * channel)
    opened = delivered & (rng.random(n) < p_open)
    forced_mask = np.isin(recipients, extra)
    opened |= forced_mask
    delay = np.exp(rng.normal(np.log(5 * 3600), 1.6, size=n)).astype(np.int64)
    open_s = send_s + jitter + np.minimum(delay, 40 * DAY_SECONDS)
    add(recipients[opened], "open", open_s[opened])
    reopen = opened & (rng.random(n) < 0.07)
    add(
        recipients[reopen],
        "open",
        open_s[reopen] + rng.integers(600, 3 * DAY_SECONDS, reopen.sum()),
    )
    p_click = sigmoid(eff.click_intercept + eff.click_engagement * u)
    clicked = opened & ((rng.random(n) < p_click) | (forced_mask & (rng.random(n) < 0.7)))
    click_s = open_s + rng.integers(5, 900, size=n)
    add(recipients[clicked], "click", click_s[clicked])
    unsub = delivered & (rng.random(n) < (0.0006 if channel == 0 else 0.0))
    add(recipients[unsub], "unsubscribe", open_s[unsub] + 60)
    if channel == 0:
        spam = delivered & (rng.random(n) < 0.00009)
        add(recipients[spam], "hbq_spam", send_s + jitter[spam] + 3)
        complain = opened & (rng.random(n) < 0.00017)
        add(recipients[complain], "complain", open_s[complain] + 120)
        subscribe = delivered & (rng.random(n) < 0.00001)
        add(recipients[subscribe], "subscribe", open_s[subscribe] + 30)
    else:
        close = opened & (rng.random(n) < 0.0000003)
        add(recipients[close], "close", open_s[close] + 2)
    buy = forced_rows[
        forced.purchase_event[forced_rows] & (forced.order_day[forced_rows] >= campaigns.day[k])
    ]
    if buy.size:
        add(
            forced.client_idx[buy],
            "purchase",
            epoch_seconds(forced.order_day[buy]) + rng.integers(9 * 3600, 23 * 3600, size=buy.size),
        )
    events = pd.concat(frames, ignore_index=True)
    first, last = epoch_seconds(np.array([MESSAGE_FIRST_DAY, MESSAGE_LAST_DAY + 1]))
    kept: pd.DataFrame = events[(events["seconds"] >= first) & (events["seconds"] < last)]
    return kept


def message_table(
    events: pd.DataFrame, clients: Clients, campaigns: Campaigns, rng: np.random.Generator
) -> pa.Table:
    """Turn generated events into the messages file's columns and id formats."""
    k = events["campaign_idx"].to_numpy()
    cidx = events["client_idx"].to_numpy()
    client_id = clients.client_id[cidx]
    campaign_id = campaigns.bulk_campaign_id[k]
    dup = rng.random(len(events)) < 0.0038  # exact duplicate rows, as in the real export
    order = np.concatenate([np.arange(len(events)), np.flatnonzero(dup)])
    order.sort(kind="stable")
    seconds = events["seconds"].to_numpy()[order]
    return pa.table(
        {
            "bulk_campaign_id": pa.array(campaign_id[order]),
            "client_id": pa.array(client_id[order]),
            "message_id": message_ids(
                client_id[order], campaign_id[order], campaigns.created_epoch[k[order]]
            ),
            "event": pa.array(events["event"].to_numpy()[order]).cast(pa.string()),
            "channel": pa.array(CHANNELS[events["channel"].to_numpy()[order]]),
            "date": format_seconds(seconds, "%Y-%m-%d"),
            "created_at": format_seconds(seconds, "%Y-%m-%d %H:%M:%S"),
        }
    )
