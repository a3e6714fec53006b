"""Generate raw files in the exact layout of the public apparel CRM dataset.

Behaviour is driven by hidden per-client traits, so that features computed from the history
really predict the 90-day label:

* ``propensity`` (z): the log purchase rate; buyers' interest decays after acquisition
  toward a small floor, so recency and frequency both carry signal.
* ``engagement`` (u, correlated with z): drives opens and clicks.
* ``push_preference``: the share of messages a client gets by mobile push.
* ``price_level``: the client's typical item price.

The label of the final cutoff (the target file) is drawn from the same purchase process over
the 90 days after the data ends; its exact probability is written, with the true effect
sizes, to ``<out>/ground_truth/`` which only tests and evaluation read. Message events, the
bulk of the data, are generated campaign by campaign and streamed to disk, so memory stays
bounded at ``--scale 1`` (12.7M message rows).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from targeting import layout

DAY_SECONDS = 86_400
EPOCH_START = np.datetime64("2022-05-16")  # first purchase date of the real data
DATA_DAYS = 641  # 2022-05-16 .. 2024-02-16 inclusive is 642 dates; day 641 is the last
MESSAGE_FIRST_DAY = 3  # 2022-05-19
MESSAGE_LAST_DAY = 640  # 2024-02-15
LABEL_WINDOW_DAYS = 90
REAL_BUYERS = 49_849
REAL_MESSAGE_ONLY_CLIENTS = 11_347  # 53,329 messaged clients minus 41,982 messaged buyers
REAL_CAMPAIGNS = 2_709
REAL_SENDS = 9_058_196
DAILY_ROW_CAP = 131_072  # the real daily exports stop at 2**17 rows
FIRST_CLIENT_ID = 1_515_915_625_468_060_902


@dataclass(frozen=True)
class TrueEffects:
    """The generator's true parameters, written to ``ground_truth/effects.json``."""

    rate_intercept: float = -3.85  # log daily purchase rate of an average client at acquisition
    rate_propensity: float = 0.85  # per standard deviation of propensity
    interest_half_life_days: float = 15.0 * np.log(2)  # decay of post-acquisition interest
    interest_floor: float = 0.0045  # long-run share of the initial rate
    engagement_propensity_corr: float = 0.75
    open_intercept: float = -0.75
    open_engagement: float = 1.2
    click_intercept: float = -1.75
    click_engagement: float = 1.0
    uplift_base: float = 0.01  # purchase probability added by an A/B treatment message ...
    uplift_engagement_max: float = 0.08  # ... plus this times sigmoid(1.5 u - 0.5)
    uplift_window_days: int = 14
    ab_control_share: float = 0.2

    @property
    def interest_tau_days(self) -> float:
        """Time constant of the interest decay, in days."""
        return self.interest_half_life_days / np.log(2)


@dataclass
class SynthConfig:
    """What to generate.

    Parameters
    ----------
    scale
        1.0 reproduces the real dataset's sizes; 0.02 gives about 1,000 clients.
    seed
        Seed of every random draw: the same seed gives byte-identical files.
    out
        Output folder; created if missing.
    fmt
        ``csv`` (the public dataset's format) or ``parquet``.
    ab_test
        Also write ``campaign_assignments`` for a few randomised holdout campaigns.

    """

    scale: float = 0.02
    seed: int = 42
    out: Path = Path("data/raw")
    fmt: str = "csv"
    ab_test: bool = True
    effects: TrueEffects = field(default_factory=TrueEffects)

    def __post_init__(self) -> None:
        if not 0 < self.scale <= 20:
            raise ValueError(f"--scale must be in (0, 20], got {self.scale}")
        if self.fmt not in ("csv", "parquet"):
            raise ValueError(f"--format must be csv or parquet, got {self.fmt!r}")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Clients:
    """Hidden traits of every client (buyers first, then message-only clients)."""

    client_id: np.ndarray
    is_buyer: np.ndarray
    propensity: np.ndarray
    engagement: np.ndarray
    push_preference: np.ndarray
    price_level: np.ndarray
    registered_day: np.ndarray
    acquired_day: np.ndarray  # first purchase day; -1 for message-only clients
    dead_email: np.ndarray
    favourite_path: np.ndarray


def simulate_clients(cfg: SynthConfig, rng: np.random.Generator, n_paths: int) -> Clients:
    """Draw the hidden traits of every client."""
    eff = cfg.effects
    n_buyers = max(50, round(REAL_BUYERS * cfg.scale))
    n_other = max(10, round(REAL_MESSAGE_ONLY_CLIENTS * cfg.scale))
    n = n_buyers + n_other
    gaps = rng.integers(1, 21_000, size=n)  # ids spread like the real 19-digit range
    client_id = FIRST_CLIENT_ID + np.cumsum(gaps) - gaps[0]
    client_id = rng.permutation(client_id)
    z = rng.normal(size=n)
    rho = eff.engagement_propensity_corr
    u = rho * z + np.sqrt(1 - rho**2) * rng.normal(size=n)
    is_buyer = np.arange(n) < n_buyers
    acquired = np.where(is_buyer, rng.integers(0, DATA_DAYS + 1, size=n), -1)
    registered = np.where(
        is_buyer,
        np.maximum(0, acquired - rng.integers(0, 90, size=n)),
        rng.integers(0, DATA_DAYS - 10, size=n),
    )
    return Clients(
        client_id=client_id.astype(np.int64),
        is_buyer=is_buyer,
        propensity=z,
        engagement=u,
        push_preference=rng.beta(2.2, 1.6, size=n),
        price_level=np.exp(rng.normal(np.log(950), 0.45, size=n)),
        registered_day=registered,
        acquired_day=acquired,
        dead_email=rng.random(n) < 0.006,
        favourite_path=rng.integers(0, n_paths, size=n),
    )


def _interest_integral(tau: float, floor: float, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Integral of floor + (1 - floor) exp(-s / tau) over s in [start, end] (days)."""
    return floor * (end - start) + (1 - floor) * tau * (np.exp(-start / tau) - np.exp(-end / tau))


def true_purchase_probability(cfg: SynthConfig, clients: Clients, cutoff_day: float) -> np.ndarray:
    """Exact probability that each buyer buys in the label window after ``cutoff_day``."""
    eff = cfg.effects
    rate = np.exp(eff.rate_intercept + eff.rate_propensity * clients.propensity)
    age = np.maximum(cutoff_day - clients.acquired_day, 0).astype(float)
    mass = _interest_integral(eff.interest_tau_days, eff.interest_floor, age, age + LABEL_WINDOW_DAYS)
    p = 1 - np.exp(-rate * mass)
    return np.where(clients.is_buyer & (clients.acquired_day < cutoff_day), p, 0.0)


def simulate_repeat_orders(
    cfg: SynthConfig, clients: Clients, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Orders after acquisition up to the last data day: (client index, day)."""
    eff = cfg.effects
    tau, floor = eff.interest_tau_days, eff.interest_floor
    buyers = np.flatnonzero(clients.is_buyer)
    rate = np.exp(eff.rate_intercept + eff.rate_propensity * clients.propensity[buyers])
    horizon = (DATA_DAYS - clients.acquired_day[buyers]).astype(float)
    floor_mass = floor * horizon
    decay_mass = (1 - floor) * tau * (1 - np.exp(-horizon / tau))
    counts = rng.poisson(rate * (floor_mass + decay_mass))
    idx = np.repeat(buyers, counts)
    h = np.repeat(horizon, counts)
    total = floor_mass + decay_mass
    floor_share = np.divide(floor_mass, total, out=np.zeros_like(total), where=total > 0)
    from_floor = rng.random(idx.size) < np.repeat(floor_share, counts)
    # truncated exponential on [0, h] by inverse CDF
    q = rng.random(idx.size)
    decay_s = -tau * np.log(1 - q * (1 - np.exp(-h / tau)))
    s = np.where(from_floor, rng.random(idx.size) * h, decay_s)
    day = clients.acquired_day[idx] + np.minimum(np.floor(s).astype(int) + 1, h.astype(int))
    return idx, day


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
    return pool[rng.random(pool.size) < p]


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


def _format_seconds(seconds: np.ndarray, fmt: str) -> pa.Array:
    ts = pa.array(seconds.astype("datetime64[s]"))
    return pc.strftime(ts, format=fmt)


def _epoch_seconds(day: np.ndarray) -> np.ndarray:
    base = (EPOCH_START - np.datetime64("1970-01-01")).astype("timedelta64[D]").astype(np.int64)
    return (base + day.astype(np.int64)) * DAY_SECONDS


class TableSink:
    """Write a table in chunks as CSV (the real layout) or Parquet."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path = path
        self.fmt = fmt
        self._writer: pacsv.CSVWriter | pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        """Append a chunk; the first chunk fixes the schema."""
        if self._writer is None:
            if self.fmt == "csv":
                # pyarrow's "needed" quotes every string; the real export quotes nothing in
                # the streamed files (no value holds a comma), so write them bare.
                options = pacsv.WriteOptions(quoting_style="none", quoting_header="none")
                self._writer = pacsv.CSVWriter(str(self.path), table.schema, write_options=options)
            else:
                self._writer = pq.ParquetWriter(str(self.path), table.schema, compression="zstd")
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        """Finish the file."""
        if self._writer is not None:
            self._writer.close()


CHANNELS = np.array(["email", "mobile_push"])


@dataclass
class ForcedSends:
    """Messages that must exist because an order is attributed to them."""

    client_idx: np.ndarray
    campaign_idx: np.ndarray
    order_day: np.ndarray
    purchase_event: np.ndarray


def _event_rows(
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
    send_s = _epoch_seconds(np.array([campaigns.day[k]]))[0] + rng.integers(8, 20) * 3600
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
    p_open = _sigmoid(eff.open_intercept + eff.open_engagement * u - 0.15 * channel)
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
    p_click = _sigmoid(eff.click_intercept + eff.click_engagement * u)
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
            _epoch_seconds(forced.order_day[buy]) + rng.integers(9 * 3600, 23 * 3600, size=buy.size),
        )
    events = pd.concat(frames, ignore_index=True)
    first, last = _epoch_seconds(np.array([MESSAGE_FIRST_DAY, MESSAGE_LAST_DAY + 1]))
    return events[(events["seconds"] >= first) & (events["seconds"] < last)]


def _message_table(
    events: pd.DataFrame, clients: Clients, campaigns: Campaigns, rng: np.random.Generator
) -> pa.Table:
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
            "date": _format_seconds(seconds, "%Y-%m-%d"),
            "created_at": _format_seconds(seconds, "%Y-%m-%d %H:%M:%S"),
        }
    )


def _category_catalogue(rng: np.random.Generator) -> list[list[str]]:
    """About 900 category paths: marker or root first, leaf last, some re-nested."""
    paths: list[list[str]] = []
    for top in ("4", "5", "2", "3", "6"):
        for second in rng.choice(np.arange(7, 300), size=4, replace=False):
            for third in rng.choice(np.arange(300, 420), size=6, replace=False):
                for leaf in rng.choice(np.arange(420, 1700), size=9, replace=False):
                    path = [top, str(second), str(third), str(leaf)]
                    if top in ("2", "3", "6"):
                        path = path[:3] if rng.random() < 0.5 else path
                    paths.append(path)
    picks = rng.choice(len(paths), size=900, replace=False)
    chosen = [paths[i] for i in picks]
    for i in range(0, len(chosen), 9):  # re-nested variants: the second level skipped
        if len(chosen[i]) == 4:
            chosen.append([chosen[i][0], chosen[i][2], chosen[i][3]])
    return chosen


def _format_categories(path: list[str]) -> str:
    return "[" + ", ".join(f"'{c}'" for c in path) + "]"


def attribute_orders(
    cfg: SynthConfig,
    clients: Clients,
    campaigns: Campaigns,
    order_client: np.ndarray,
    order_day: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Pick, for every order, the campaign it is attributed to (a recent one)."""
    channel_pref = rng.random(order_client.size) < clients.push_preference[order_client]
    picked = np.empty(order_client.size, dtype=np.int64)
    for chan in (0, 1):
        mask = channel_pref == chan
        pool = np.flatnonzero(campaigns.channel == chan)
        pool_days = campaigns.day[pool]
        lo = np.searchsorted(pool_days, order_day[mask] - 30)
        hi = np.searchsorted(pool_days, order_day[mask], side="right")
        hi = np.maximum(hi, 1)
        lo = np.minimum(lo, hi - 1)
        pick = lo + (rng.random(mask.sum()) * (hi - lo)).astype(np.int64)
        picked[mask] = pool[np.minimum(pick, pool.size - 1)]
    return picked


def purchase_lines(
    clients: Clients,
    campaigns: Campaigns,
    order_client: np.ndarray,
    order_day: np.ndarray,
    order_campaign: np.ndarray,
    catalogue: list[list[str]],
    rng: np.random.Generator,
) -> pa.Table:
    """Expand orders into line items in the real purchases layout."""
    n_items = 1 + rng.poisson(0.7, size=order_client.size)
    item_order = np.repeat(np.arange(order_client.size), n_items)
    copies = 1 + rng.poisson(0.55, size=item_order.size)  # identical lines: one per unit
    line_item = np.repeat(np.arange(item_order.size), copies)
    line_order = item_order[line_item]
    cidx = order_client[line_order]
    # category: the client's favourite path most of the time
    n_paths = len(catalogue)
    fav = clients.favourite_path[cidx[np.searchsorted(line_item, np.arange(item_order.size))]]
    item_path = np.where(rng.random(item_order.size) < 0.55, fav, rng.integers(0, n_paths, item_order.size))
    labels = np.array([_format_categories(p) for p in catalogue] + ["[]", "[None]"], dtype=object)
    odd = rng.random(item_order.size)
    item_path = np.where(odd < 0.0276, n_paths, np.where(odd < 0.0339, n_paths + 1, item_path))
    sale = (rng.random(item_order.size) < 0.08) & (item_path < n_paths)
    item_label = labels[item_path].copy()
    item_label[sale] = ["['5562', " + s[1:] for s in item_label[sale]]
    price = clients.price_level[order_client[item_order]] * np.exp(rng.normal(0, 0.55, item_order.size))
    price = np.clip(np.round(price / 100) * 100 - 1, 1, 85_499)
    qty = np.where(rng.random(item_order.size) < 0.96, 1, rng.integers(2, 6, item_order.size))
    qty[rng.random(item_order.size) < 0.0005] = 30
    # the message_id's client part is another client's in 27.5% of orders, as in the export
    msg_client = clients.client_id[order_client].copy()
    other = rng.random(order_client.size) < 0.275
    msg_client[other] = clients.client_id[rng.integers(0, clients.client_id.size, other.sum())]
    campaign_id = campaigns.bulk_campaign_id[order_campaign]
    mid = message_ids(msg_client, campaign_id, campaigns.created_epoch[order_campaign])
    day = order_day[line_order]
    sort = np.lexsort((clients.client_id[cidx], day))
    price_str = pc.binary_join_element_wise(
        pa.array(price[line_item].astype(np.int64)).cast(pa.string()), pa.scalar(".0"), ""
    )
    return pa.table(
        {
            "client_id": pa.array(clients.client_id[cidx]),
            "quantity": pa.array(qty[line_item].astype(np.int64)),
            "price": price_str,
            "category_ids": pa.array(item_label[line_item].astype(str)),
            "date": _format_seconds(_epoch_seconds(day), "%Y-%m-%d"),
            "message_id": mid.take(pa.array(line_order)),
        }
    ).take(pa.array(sort))


def _chunks(n: int, size: int) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(n, start + size))


def _daily_aggregate(events: pd.DataFrame, campaigns: Campaigns) -> tuple[pd.DataFrame, pd.DataFrame]:
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


def _wide_daily(long: pd.DataFrame, columns: list[str], with_channel: bool) -> pa.Table:
    key = long["event"] + ("_" + long["channel"] if with_channel else "")
    long = long.assign(key=key)
    wide = long.pivot_table(
        index=["day", "campaign"],
        columns="key",
        values=["count", "nunique"],
        fill_value=0,
        aggfunc="sum",
    )
    wide.columns = [f"{measure}_{name}" for measure, name in wide.columns]
    wide = wide.reset_index().sort_values(["day", "campaign"], kind="stable")
    out: dict[str, pa.Array] = {
        "date": _format_seconds(wide["day"].to_numpy() * DAY_SECONDS, "%Y-%m-%d"),
        "bulk_campaign_id": pa.array(wide["campaign"].to_numpy().astype(np.int64)),
    }
    for col in columns:
        values = wide[col].to_numpy() if col in wide else np.zeros(len(wide), dtype=np.int64)
        out[col] = pa.array(values.astype(np.int64))
    return pa.table(out)


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
    catalogue = _category_catalogue(rng)
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
        n_ab = max(2, round(6 * min(cfg.scale, 1) ** 0.5))
        ab_campaigns = rng.choice(late[-min(late.size, 200) :], size=n_ab, replace=False)
        for k in np.sort(ab_campaigns):
            audience = campaign_audience(cfg, clients, campaigns, int(k), buyers_only=True)
            control = rng.random(audience.size) < eff.ab_control_share
            u = clients.engagement[audience]
            uplift = eff.uplift_base + eff.uplift_engagement_max * _sigmoid(1.5 * u - 0.5)
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
    _write_whole(lines, out / f"{layout.PURCHASES}.{ext}", ext)
    say(f"wrote {lines.num_rows:,} purchase lines from {order_client.size:,} orders")

    # Target file: the label of the cutoff right after the data ends.
    cutoff = DATA_DAYS + 1
    p_true = true_purchase_probability(cfg, clients, cutoff)
    label = (rng.random(p_true.size) < p_true).astype(np.int64)
    buyer_ids = clients.client_id[buyers]
    targets = pa.table({"client_id": pa.array(buyer_ids), "target": pa.array(label[buyers])})
    _write_whole(targets.take(pa.array(np.argsort(buyer_ids))), out / f"{layout.TARGETS}.{ext}", ext)
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
    for chunk in _chunks(n_campaigns, chunk_size):
        frames = []
        for k in chunk:
            audience = campaign_audience(cfg, clients, campaigns, k)
            if k in holdout:
                audience = np.setdiff1d(audience, holdout[k])
            rows = forced_sort[forced_bounds[k] : forced_bounds[k + 1]]
            events = _event_rows(cfg, clients, campaigns, k, audience, forced, rows, rng)
            frames.append(events.assign(campaign_idx=k))
        events = pd.concat(frames, ignore_index=True)
        sink.write(_message_table(events, clients, campaigns, rng))
        by_event, by_channel = _daily_aggregate(events, campaigns)
        daily_event.append(by_event)
        daily_channel.append(by_channel)
        say(f"messages: campaigns {chunk.stop:,}/{n_campaigns:,}, {sink.rows:,} rows")
    sink.close()

    # Daily tables: the real untidy column order, capped like the real export.
    extra = _extra_daily_campaigns(rng, campaigns, max(5, round(300 * cfg.scale)))
    ev = pd.concat(daily_event + [extra.drop(columns="channel")], ignore_index=True)
    ch = pd.concat(daily_channel + [extra], ignore_index=True)
    daily = _wide_daily(ev, layout.DAILY_EVENT_COLUMNS, with_channel=False).slice(0, DAILY_ROW_CAP)
    daily_ch = _wide_daily(ch, layout.DAILY_CHANNEL_COLUMNS, with_channel=True).slice(0, DAILY_ROW_CAP)
    _write_whole(daily, out / f"{layout.CAMPAIGN_DAILY}.{ext}", ext)
    _write_whole(daily_ch, out / f"{layout.CAMPAIGN_CHANNEL_DAILY}.{ext}", ext)
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
        _write_whole(assignments, out / f"{layout.ASSIGNMENTS}.{ext}", ext)
        ab[["client_id", "bulk_campaign_id", "variant", "true_uplift"]].to_parquet(
            out / "ground_truth" / "ab_true_uplift.parquet", index=False
        )
        counts[layout.ASSIGNMENTS] = len(ab)
    _write_truth(cfg, clients, p_true, label, out / "ground_truth")
    return counts


def _extra_daily_campaigns(rng: np.random.Generator, campaigns: Campaigns, n: int) -> pd.DataFrame:
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


def _write_whole(table: pa.Table, path: Path, fmt: str) -> None:
    """Write a table that fits in memory; CSV quotes only values that need it, like the export."""
    if fmt == "parquet":
        pq.write_table(table, str(path), compression="zstd")
        return
    con = duckdb.connect()
    con.register("frame", table)
    target = str(path).replace("'", "''")
    con.execute(f"copy (select * from frame) to '{target}' (header, delimiter ',')")
    con.close()


def _write_truth(
    cfg: SynthConfig, clients: Clients, p_true: np.ndarray, label: np.ndarray, folder: Path
) -> None:
    from sklearn.metrics import roc_auc_score

    buyers = clients.is_buyer
    truth = pd.DataFrame(
        {
            "client_id": clients.client_id,
            "is_buyer": buyers,
            "p_true_90d": p_true,
            "label": label,
            "propensity": clients.propensity,
            "engagement": clients.engagement,
            "push_preference": clients.push_preference,
            "price_level": clients.price_level,
            "acquired_on": pd.Timestamp(str(EPOCH_START))
            + pd.to_timedelta(np.where(buyers, clients.acquired_day, 0), unit="D"),
        }
    )
    truth.loc[~buyers, "acquired_on"] = pd.NaT
    truth.to_parquet(folder / "clients.parquet", index=False)
    y, p = label[buyers], p_true[buyers]
    oracle_auc = float(roc_auc_score(y, p)) if 0 < y.sum() < y.size else float("nan")
    eff = {k: float(getattr(cfg.effects, k)) for k in cfg.effects.__dataclass_fields__}
    summary = {
        "seed": cfg.seed,
        "scale": cfg.scale,
        "effects": eff,
        "label_cutoff": str(EPOCH_START + np.timedelta64(DATA_DAYS + 1, "D")),
        "label_window_days": LABEL_WINDOW_DAYS,
        "label_rate": float(y.mean()),
        "expected_label_rate": float(p.mean()),
        "oracle_auc": oracle_auc,
    }
    (folder / "effects.json").write_text(json.dumps(summary, indent=2) + "\n")
