-- Each campaign's open and click rates over its first 7 days, from the daily campaign table.
-- A rate becomes known on known_on (launch + 7 days); features use it only for cutoffs
-- after that day, so no feature reads a campaign's later results.
with

daily as (
    select * from {{ ref('stg_apparel__campaign_daily_events') }}
),

launched as (
    select
        bulk_campaign_id,
        min(event_date) as launched_on
    from daily
    where event = 'send'
    group by bulk_campaign_id
),

first_week as (
    select
        daily.bulk_campaign_id,
        launched.launched_on,
        sum(daily.event_count) filter (where daily.event = 'send') as sends,
        sum(daily.event_count) filter (where daily.event = 'open') as opens,
        sum(daily.event_count) filter (where daily.event = 'click') as clicks
    from daily
    inner join launched on daily.bulk_campaign_id = launched.bulk_campaign_id
    where daily.event_date < launched.launched_on + interval 7 day
    group by daily.bulk_campaign_id, launched.launched_on
),

final as (
    select
        bulk_campaign_id,
        launched_on,
        cast(launched_on + interval 7 day as date) as known_on,
        sends as sends_7d,
        coalesce(opens, 0) as opens_7d,
        coalesce(clicks, 0) as clicks_7d,
        least(coalesce(opens, 0) / sends, 1.0) as open_rate_7d,
        least(coalesce(clicks, 0) / sends, 1.0) as click_rate_7d
    from first_week
    where sends > 0
)

select * from final
