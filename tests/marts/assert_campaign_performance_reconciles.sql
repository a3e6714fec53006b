-- campaign_performance must carry every counter of the daily campaign-by-channel table:
-- totals per event agree exactly.
with

performance as (
    select * from {{ ref('campaign_performance') }}
),

daily as (
    select * from {{ ref('stg_apparel__campaign_channel_daily_events') }}
),

mart_totals as (
    select 'send' as event, sum(sends) as total from performance
    union all select 'open', sum(opens) from performance
    union all select 'click', sum(clicks) from performance
    union all select 'purchase', sum(purchases) from performance
    union all select 'hard_bounce', sum(hard_bounces) from performance
    union all select 'unsubscribe', sum(unsubscribes) from performance
),

daily_totals as (
    select event, sum(event_count) as total
    from daily
    group by event
)

select
    mart_totals.event,
    mart_totals.total as mart_total,
    daily_totals.total as daily_total
from mart_totals
left join daily_totals on mart_totals.event = daily_totals.event
where coalesce(mart_totals.total, 0) != coalesce(daily_totals.total, 0)
