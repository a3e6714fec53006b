"""Names and column orders of the raw files, as in the public apparel dataset.

The dbt project owns the contract: the columns of the purchases, messages and target files
are read from the sources YAML (``expected_columns``), and the value rules (what an id, a
number or a date must look like) from the ``value_rules`` var of ``dbt_project.yml``, so the
staging SQL, the Great Expectations checks and the generator cannot drift apart.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from targeting.core.settings import REPO

SOURCES_YAML = REPO / "models" / "staging" / "apparel" / "_apparel__sources.yml"
DBT_PROJECT = REPO / "dbt_project.yml"


@cache
def source_tables(path: Path, source: str) -> dict[str, dict[str, Any]]:
    """Return the tables of one source in a dbt sources YAML file by name (as written, not rendered)."""
    sources = yaml.safe_load(path.read_text())["sources"]
    found = next(src for src in sources if src["name"] == source)
    return {t["name"]: t for t in found["tables"]}


def expected_columns(table: str) -> list[str]:
    """Columns of a raw source table in file order, from the sources YAML."""
    return list(source_tables(SOURCES_YAML, "apparel")[table]["config"]["meta"]["expected_columns"])


@cache
def value_rules() -> dict[str, Any]:
    """Return the ``value_rules`` var of ``dbt_project.yml``: whole-text patterns and ``min_year``."""
    return dict(yaml.safe_load(DBT_PROJECT.read_text())["vars"]["value_rules"])


def vocabulary() -> dict[str, Any]:
    """Return the ``vocabulary`` var of ``dbt_project.yml``, as the SQL models read it.

    It is the one definition of the counted and flag message events (feature name: raw value),
    the channels (suffix: raw value) and the engagement and order windows in days.
    """
    return dict(yaml.safe_load(DBT_PROJECT.read_text())["vars"]["vocabulary"])


def full_match(rule: str) -> str:
    """Return a value rule as an anchored regular expression (for Great Expectations)."""
    return f"^(?:{value_rules()[rule]})$"


def raw_file_name(table: str) -> str:
    """Return the raw file name (no folder, suffix or extension) of a source table.

    The sources YAML is the one definition (``identifier``); the target file's default name is
    the ``raw_targets_default`` var, which its Jinja identifier falls back to.
    """
    if table == "targets":
        return str(yaml.safe_load(DBT_PROJECT.read_text())["vars"]["raw_targets_default"])
    return str(source_tables(SOURCES_YAML, "apparel")[table]["identifier"])


PURCHASES = raw_file_name("purchases")
MESSAGES = raw_file_name("messages")
TARGETS = raw_file_name("targets")
CAMPAIGN_DAILY = raw_file_name("campaign_daily_events")
CAMPAIGN_CHANNEL_DAILY = raw_file_name("campaign_channel_daily_events")
ASSIGNMENTS = raw_file_name("campaign_assignments")

RAW_FILES = (PURCHASES, MESSAGES, TARGETS, CAMPAIGN_DAILY, CAMPAIGN_CHANNEL_DAILY)

PURCHASE_COLUMNS = expected_columns("purchases")
MESSAGE_COLUMNS = expected_columns("messages")
TARGET_COLUMNS = expected_columns("targets")

# The real header order: counters were appended as new events appeared.
DAILY_EVENT_COLUMNS = [
    "count_click",
    "count_complain",
    "count_hard_bounce",
    "count_open",
    "count_purchase",
    "count_send",
    "count_soft_bounce",
    "count_subscribe",
    "count_unsubscribe",
    "nunique_click",
    "nunique_complain",
    "nunique_hard_bounce",
    "nunique_open",
    "nunique_purchase",
    "nunique_send",
    "nunique_soft_bounce",
    "nunique_subscribe",
    "nunique_unsubscribe",
    "count_hbq_spam",
    "nunique_hbq_spam",
    "count_close",
    "nunique_close",
]
DAILY_CHANNEL_COLUMNS = [
    "count_click_email",
    "count_click_mobile_push",
    "count_open_email",
    "count_open_mobile_push",
    "count_purchase_email",
    "count_purchase_mobile_push",
    "count_soft_bounce_email",
    "count_subscribe_email",
    "count_unsubscribe_email",
    "nunique_click_email",
    "nunique_click_mobile_push",
    "nunique_open_email",
    "nunique_open_mobile_push",
    "nunique_purchase_email",
    "nunique_purchase_mobile_push",
    "nunique_soft_bounce_email",
    "nunique_subscribe_email",
    "nunique_unsubscribe_email",
    "count_hard_bounce_mobile_push",
    "count_send_mobile_push",
    "nunique_hard_bounce_mobile_push",
    "nunique_send_mobile_push",
    "count_hard_bounce_email",
    "count_hbq_spam_email",
    "count_send_email",
    "nunique_hard_bounce_email",
    "nunique_hbq_spam_email",
    "nunique_send_email",
    "count_soft_bounce_mobile_push",
    "nunique_soft_bounce_mobile_push",
    "count_complain_email",
    "nunique_complain_email",
    "count_close_mobile_push",
    "nunique_close_mobile_push",
]
