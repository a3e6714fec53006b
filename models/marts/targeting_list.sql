-- The BI-facing targeting list: every scored client of every run fitted on customer_features
-- (runs on other tables are in stg_ml__customer_scores only) with the posterior
-- purchase probability, key features, and the expected value of one contact:
--   p_mean x expected order value x gross margin - cost of a message on the client's channel.
-- The expected order value is the client's predicted value per purchase from the latest CLV
-- run at the cutoff (customer_value, Gamma-Gamma); without one, their mean order value so far;
-- without any order, the default_order_value of the targeting_economics seed. Where the
-- client's label at the cutoff is known (customer_labels: a complete window, or the target
-- file at the scoring cutoff), purchased_in_window holds it: the list's precision at k.
with

scores as (
    select * from {{ ref('stg_ml__customer_scores') }}
),

runs as (
    select * from {{ ref('stg_ml__model_runs') }}
    where relation = '{{ ref("customer_features").schema }}.{{ ref("customer_features").identifier }}'
),

features as (
    select * from {{ ref('customer_features') }}
),

channels as (
    select * from {{ ref('channels') }}
),

customer_value as (
    select * from {{ ref('customer_value') }}
    where is_latest_at_cutoff
),

labels as (
    select * from {{ ref('customer_labels') }}
),

economics as (
    select
        max(value) filter (where parameter = 'gross_margin_rate') as gross_margin_rate,
        max(value) filter (where parameter = 'default_order_value') as default_order_value
    from {{ ref('targeting_economics') }}
),

joined as (
    select
        scores.run_id,
        runs.spec_name,
        runs.is_latest_run,
        runs.diagnostics_ok,
        features.client_id,
        scores.as_of_date,
        scores.p_mean,
        scores.p_sd,
        scores.p_q05,
        scores.p_q95,
        scores.rank,
        scores.decile,
        scores.used_population_level,
        features.days_since_last_order,
        features.orders_all,
        features.revenue_all,
        features.avg_order_value_all,
        features.open_rate_90d,
        features.click_rate_90d,
        features.favourite_channel,
        features.has_unsubscribed,
        features.has_hard_bounce,
        labels.purchased_next_90d as purchased_in_window,
        economics.gross_margin_rate,
        case
            when customer_value.expected_order_value is not null then customer_value.expected_order_value
            when features.avg_order_value_all > 0 then features.avg_order_value_all
            else economics.default_order_value
        end as expected_order_value,
        case
            when customer_value.expected_order_value is not null then 'clv'
            when features.avg_order_value_all > 0 then 'history'
            else 'default'
        end as order_value_source,
        coalesce(channels.cost_per_message, 0) as contact_cost
    from scores
    inner join runs on scores.run_id = runs.run_id
    inner join features
        on scores.client_id = cast(features.client_id as string) and scores.as_of_date = features.as_of_date
    left join channels on features.favourite_channel = channels.channel
    left join customer_value
        on scores.client_id = customer_value.client_id and scores.as_of_date = customer_value.as_of_date
    left join labels
        on features.client_id = labels.client_id and scores.as_of_date = labels.as_of_date
    cross join economics
),

final as (
    select
        *,
        p_mean * expected_order_value * gross_margin_rate - contact_cost as expected_value,
        p_q05 * expected_order_value * gross_margin_rate - contact_cost as expected_value_q05,
        not has_unsubscribed and not has_hard_bounce as is_contactable
    from joined
)

select * from final
