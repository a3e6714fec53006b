"""Purchase lines: orders turned into the real export's line items and category lists."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from targeting.data.synth.campaigns import Campaigns
from targeting.data.synth.clients import Clients
from targeting.data.synth.config import SynthConfig
from targeting.data.synth.messages import epoch_seconds, format_seconds, message_ids


def category_catalogue(rng: np.random.Generator) -> list[list[str]]:
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
            "date": format_seconds(epoch_seconds(day), "%Y-%m-%d"),
            "message_id": mid.take(pa.array(line_order)),
        }
    ).take(pa.array(sort))
