"""Bulk campaigns: their dates, channels and audiences."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from targeting.data.synth.clients import Clients
from targeting.data.synth.config import (
    DAY_SECONDS,
    EPOCH_START,
    MESSAGE_FIRST_DAY,
    MESSAGE_LAST_DAY,
    REAL_CAMPAIGNS,
    REAL_SENDS,
    SynthConfig,
)


@dataclass
class Campaigns:
    """The campaign schedule."""

    bulk_campaign_id: np.ndarray
    day: np.ndarray
    channel: np.ndarray  # 0 email, 1 mobile_push
    size_factor: np.ndarray
    created_epoch: np.ndarray  # seconds, used for the message_id hex like the real ids
    mean_audience: float  # sends per campaign, so that sends per client match the real data


def simulate_campaigns(cfg: SynthConfig, rng: np.random.Generator) -> Campaigns:
    """Draw campaign ids, send days and channels."""
    # Fewer campaigns at small scale, but not proportionally fewer: each client should still
    # receive about as many messages as in the real data (about 150 sends).
    n = max(12, round(REAL_CAMPAIGNS * cfg.scale**0.3))
    ids = np.sort(rng.choice(np.arange(548, 14_658), size=n, replace=False))
    day = np.sort(rng.integers(MESSAGE_FIRST_DAY, MESSAGE_LAST_DAY + 1, size=n))
    base = (EPOCH_START - np.datetime64("1970-01-01")).astype("timedelta64[D]").astype(np.int64)
    created = (base + day - 1) * DAY_SECONDS + rng.integers(0, DAY_SECONDS, size=n)
    return Campaigns(
        bulk_campaign_id=ids.astype(np.int64),
        day=day,
        channel=(rng.random(n) < 0.58).astype(np.int8),
        size_factor=np.exp(rng.normal(0, 0.6, size=n) - 0.18),
        created_epoch=created,
        mean_audience=REAL_SENDS * cfg.scale / n,
    )


def campaign_audience(
    cfg: SynthConfig, clients: Clients, campaigns: Campaigns, k: int, buyers_only: bool = False
) -> np.ndarray:
    """Client indices a campaign is sent to; deterministic in (seed, campaign index)."""
    rng = np.random.default_rng([cfg.seed, 7, k])
    eligible = clients.registered_day <= campaigns.day[k]
    if buyers_only:
        eligible &= clients.is_buyer & (clients.acquired_day < campaigns.day[k])
    pool = np.flatnonzero(eligible)
    if pool.size == 0:
        return pool
    pref = clients.push_preference[pool]
    weight = pref if campaigns.channel[k] == 1 else 1 - pref
    # the client base grows over time: scale the audience with the share already registered
    share = pool.size / clients.client_id.size
    target = campaigns.mean_audience * campaigns.size_factor[k] * share * 1.75
    p = np.minimum(1.0, target * weight / weight.sum())
    chosen: np.ndarray = pool[rng.random(pool.size) < p]
    return chosen
