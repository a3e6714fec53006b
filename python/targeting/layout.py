"""Names and column orders of the raw files, as in the public apparel dataset."""

from __future__ import annotations

PURCHASES = "apparel-purchases"
MESSAGES = "apparel-messages"
TARGETS = "apparel-target_binary"
CAMPAIGN_DAILY = "full_campaign_daily_event"
CAMPAIGN_CHANNEL_DAILY = "full_campaign_daily_event_channel"
ASSIGNMENTS = "campaign_assignments"

RAW_FILES = (PURCHASES, MESSAGES, TARGETS, CAMPAIGN_DAILY, CAMPAIGN_CHANNEL_DAILY)

PURCHASE_COLUMNS = ["client_id", "quantity", "price", "category_ids", "date", "message_id"]
MESSAGE_COLUMNS = [
    "bulk_campaign_id",
    "client_id",
    "message_id",
    "event",
    "channel",
    "date",
    "created_at",
]
TARGET_COLUMNS = ["client_id", "target"]

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
