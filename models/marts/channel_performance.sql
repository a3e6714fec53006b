-- Channel x month funnel for BI, rolled up from campaign_performance: volumes, rates on
-- monthly totals, distinct campaigns, cost and cost per purchase.
with

campaign_days as (
    select * from {{ ref('campaign_performance') }}
),

monthly as (
    select
        channel,
        cast(date_trunc('month', event_date) as date) as month,
        -- summed as decimals: exact, whatever order the campaigns arrive in
        cast(sum(cast(send_cost as decimal(18, 6))) as double) as send_cost,
        count(distinct bulk_campaign_id) as campaigns,
        sum(sends) as sends,
        sum(opens) as opens,
        sum(clicks) as clicks,
        sum(purchases) as purchases,
        sum(hard_bounces) as hard_bounces,
        sum(unsubscribes) as unsubscribes,
        sum(complaints) as complaints
    from campaign_days
    group by channel, date_trunc('month', event_date)
),

final as (
    select
        channel,
        month,
        cast(campaigns as bigint) as campaigns,
        cast(sends as bigint) as sends,
        cast(opens as bigint) as opens,
        cast(clicks as bigint) as clicks,
        cast(purchases as bigint) as purchases,
        cast(hard_bounces as bigint) as hard_bounces,
        cast(unsubscribes as bigint) as unsubscribes,
        cast(complaints as bigint) as complaints,
        send_cost,
        opens / nullif(sends, 0) as open_rate,
        clicks / nullif(sends, 0) as click_rate,
        purchases / nullif(sends, 0) as purchases_per_send,
        send_cost / nullif(purchases, 0) as cost_per_purchase
    from monthly
)

select * from final
