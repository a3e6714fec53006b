-- RFM segments: one row per (client, cutoff) of customer_features. Among the clients with
-- a purchase before the cutoff, recency (days since the last order), frequency (orders)
-- and monetary value (revenue) get 1..5 quintile scores within the cutoff, 5 = best:
-- 1 + floor(5 x percent_rank), so tied values share a score and the same inputs always
-- give the same scores. The (r, f) pair names the segment through the rfm_segments seed.
-- Clients without a purchase yet are `no_purchases`, with null scores.
with

features as (
    select * from {{ ref('customer_features') }}
),

segment_names as (
    select * from {{ ref('rfm_segments') }}
),

buyers as (
    select
        client_id,
        as_of_date,
        days_since_last_order,
        orders_all,
        revenue_all
    from features
    where has_purchase_history
),

scored as (
    select
        client_id,
        as_of_date,
        cast(least(
            5, 1 + floor(5 * percent_rank() over (partition by as_of_date order by days_since_last_order desc))
        ) as integer) as r_score,
        cast(least(
            5, 1 + floor(5 * percent_rank() over (partition by as_of_date order by orders_all))
        ) as integer) as f_score,
        cast(least(
            5, 1 + floor(5 * percent_rank() over (partition by as_of_date order by revenue_all))
        ) as integer) as m_score
    from buyers
),

final as (
    select
        features.client_id,
        features.as_of_date,
        features.is_scoring_cutoff,
        features.has_purchase_history,
        features.days_since_last_order as recency_days,
        features.orders_all as frequency_orders,
        features.revenue_all as monetary_revenue,
        scored.r_score,
        scored.f_score,
        scored.m_score,
        cast(scored.r_score as string) || cast(scored.f_score as string) || cast(scored.m_score as string) as rfm_cell,
        coalesce(segment_names.segment, 'no_purchases') as segment,
        coalesce(segment_names.segment_order, 99) as segment_order
    from features
    left join scored
        on features.client_id = scored.client_id and features.as_of_date = scored.as_of_date
    left join segment_names
        on scored.r_score = segment_names.r_score and scored.f_score = segment_names.f_score
)

select * from final
