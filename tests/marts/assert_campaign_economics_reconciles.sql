-- campaign_economics must carry every attributed order and its revenue, and every send
-- event: totals agree with int_orders_attributed and the staged messages.
with

economics as (
    select * from {{ ref('campaign_economics') }}
),

attributed as (
    select * from {{ ref('int_orders_attributed') }}
),

messages as (
    select * from {{ ref('stg_apparel__messages') }}
),

mart_totals as (
    select
        sum(conversions) as conversions,
        sum(revenue) as revenue,
        sum(sends) as sends
    from economics
),

attributed_totals as (
    select
        count(*) as conversions,
        coalesce(sum(revenue), 0) as revenue
    from attributed
    where attribution_status = 'attributed'
),

send_totals as (
    select count(*) as sends
    from messages
    where event = 'send'
),

source_totals as (
    select
        attributed_totals.conversions,
        attributed_totals.revenue,
        send_totals.sends
    from attributed_totals
    cross join send_totals
)

select
    mart_totals.conversions as mart_conversions,
    source_totals.conversions as source_conversions,
    mart_totals.revenue as mart_revenue,
    source_totals.revenue as source_revenue,
    mart_totals.sends as mart_sends,
    source_totals.sends as source_sends
from mart_totals
cross join source_totals
where
    mart_totals.conversions != source_totals.conversions
    or abs(mart_totals.revenue - source_totals.revenue) > 0.01
    or mart_totals.sends != source_totals.sends
