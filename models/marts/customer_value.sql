-- Customer lifetime value for BI: per customer, the latest run of each CLV spec at the cutoff
-- it scored (ml.customer_clv via stg_ml__customer_clv): expected purchases and value over the
-- run's horizon with 90% intervals, P(alive), the expected value per purchase, the value decile
-- within the run, and the customer's RFM lifecycle segment at that cutoff. The latest run over
-- every spec at a cutoff (is_latest_at_cutoff) is the one segment_profiles, targeting_list and
-- uplift_targeting value customers by.
with

clv as (
    select * from {{ ref('stg_ml__customer_clv') }}
),

runs as (
    select * from {{ ref('stg_ml__clv_runs') }}
    where is_latest_run
),

ranked_runs as (
    -- the run the other marts value customers by at each cutoff: the latest over every spec
    -- (created_at has whole seconds: run_id breaks a tie, never arbitrarily)
    select
        *,
        row_number() over (partition by as_of_date order by created_at desc, run_id asc) = 1 as is_latest_at_cutoff
    from runs
),

segments as (
    select * from {{ ref('customer_segments') }}
),

final as (
    select
        ranked_runs.spec_name,
        clv.run_id,
        clv.client_id,
        clv.as_of_date,
        clv.horizon,
        clv.frequency,
        clv.recency,
        clv.age,
        clv.expected_purchases,
        clv.expected_purchases_lower,
        clv.expected_purchases_upper,
        clv.p_alive,
        clv.p_alive_lower,
        clv.p_alive_upper,
        clv.expected_order_value,
        clv.expected_order_value_lower,
        clv.expected_order_value_upper,
        clv.clv,
        clv.clv_lower,
        clv.clv_upper,
        segments.segment,
        ranked_runs.is_latest_at_cutoff,
        cast(ntile(10) over (partition by clv.run_id order by clv.clv, clv.client_id) as bigint) as value_decile
    from clv
    inner join ranked_runs on clv.run_id = ranked_runs.run_id
    left join segments
        on clv.client_id = cast(segments.client_id as string) and clv.as_of_date = segments.as_of_date
)

select * from final
