{{ config(severity='warn') }}
-- The two daily exports should agree: per (day, campaign, event), the by-channel counts sum
-- to the event-level count. A warning, not an error: both real exports are capped at
-- 131,072 rows, so a pair of rows present in one can be missing from the other.
with

by_event as (
    select * from {{ ref('stg_apparel__campaign_daily_events') }}
),

by_channel as (
    select
        event_date,
        bulk_campaign_id,
        event,
        sum(event_count) as event_count
    from {{ ref('stg_apparel__campaign_channel_daily_events') }}
    group by event_date, bulk_campaign_id, event
)

select
    by_event.event_date,
    by_event.bulk_campaign_id,
    by_event.event,
    by_event.event_count,
    by_channel.event_count as channel_sum
from by_event
inner join by_channel using (event_date, bulk_campaign_id, event)
where by_event.event_count != by_channel.event_count
