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
    select
        'send' as event,
        sum(sends) as total
    from performance
    union all
    select
        'open' as event,
        sum(opens) as total
    from performance
    union all
    select
        'click' as event,
        sum(clicks) as total
    from performance
    union all
    select
        'purchase' as event,
        sum(purchases) as total
    from performance
    union all
    select
        'hard_bounce' as event,
        sum(hard_bounces) as total
    from performance
    union all
    select
        'unsubscribe' as event,
        sum(unsubscribes) as total
    from performance
),

daily_totals as (
    select
        event,
        sum(event_count) as total
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
