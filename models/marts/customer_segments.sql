-- RFM segments: one row per (client, cutoff) of customer_features. Among the clients with
-- a purchase before the cutoff, recency (days since the last order), frequency (orders)
-- and monetary value (revenue) get 1..5 quintile scores within the cutoff, 5 = best:
-- 1 + floor(5 x percent_rank), so tied values share a score and the same inputs always
-- give the same scores. The (r, f) pair names the segment through the rfm_segments seed.
-- Clients without a purchase yet are `no_purchases`, with null scores.
--
-- Incremental by cutoff: quintiles rank the clients of a cutoff, so a cutoff is recomputed
-- whole when it is new, or the fingerprint of its clients' recency, frequency, value and
-- scoring flag in customer_features differs from the stored rows' (a daily run: the
-- scoring cutoff); a change in the rfm_segments seed recomputes every cutoff.
{{ config(
    materialized=incremental_where_supported(),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=["{{ record_changed_partitions('as_of_date',
        'select as_of_date, client_id, is_scoring_cutoff, has_purchase_history,
        days_since_last_order as recency_days, orders_all as frequency_orders, revenue_all as monetary_revenue
        from ' ~ ref('customer_features'),
        signature=['client_id', 'is_scoring_cutoff', 'has_purchase_history', 'recency_days',
            'frequency_orders', 'monetary_revenue'],
        inputs_checksum=rfm_segments_checksum(ref('rfm_segments'))) }}"],
    post_hook=["{{ store_period_state(inputs_checksum=rfm_segments_checksum(ref('rfm_segments'))) }}"]
) }}
with

features as (
    select * from {{ ref('customer_features') }}
    {% if is_incremental() %}
        where as_of_date in (select changes.as_of_date from {{ changed_clients_relation() }} as changes)
    {% endif %}
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

-- stored cutoff by cutoff, like customer_features: a recomputed cutoff's delete touches few row groups
select * from final
order by as_of_date
