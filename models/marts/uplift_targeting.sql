-- Whom to contact next, by expected incremental profit: per unit of the latest run of each
-- uplift spec (model var uplift_model), the predicted uplift times the margin of a converted
-- order (the unit's predicted value per purchase from the latest CLV run, customer_value, at
-- its latest cutoff, or default_order_value without one; times gross_margin_rate from the
-- targeting_economics seed) minus the cost of
-- one message on var uplift_contact_channel (channels seed). Units are ranked by that profit;
-- `is_selected` marks those with a positive expected profit, in rank order, while the running
-- contact cost stays within var uplift_budget.
{%- if execute %}
    {#- a channel missing from the seed would leave the mart silently empty: fail, naming it -#}
    {%- set known = run_query('select channel from ' ~ ref('channels') ~ ' order by 1').columns[0].values() | list -%}
    {%- if var('uplift_contact_channel') not in known -%}
        {{ exceptions.raise_compiler_error(
            "var uplift_contact_channel is '" ~ var('uplift_contact_channel')
            ~ "', which is not a channel of the channels seed; expected one of: " ~ known | join(', ')) }}
    {%- endif -%}
{%- endif %}
with

scores as (
    select * from {{ ref('stg_ml__uplift_scores') }}
),

channels as (
    select * from {{ ref('channels') }}
),

economics as (
    select * from {{ ref('targeting_economics') }}
),

runs as (
    select distinct
        spec_name,
        run_id,
        created_at
    from scores
),

ranked_runs as (
    -- the latest run of each spec; created_at has whole seconds, so two runs written in the
    -- same second are told apart by run_id (as stg_ml__segment_runs does): never arbitrary
    select
        spec_name,
        run_id,
        created_at,
        row_number() over (partition by spec_name order by created_at desc, run_id asc) as run_rank
    from runs
),

latest_runs as (
    select
        spec_name,
        run_id,
        created_at
    from ranked_runs
    where run_rank = 1
),

customer_value as (
    select * from {{ ref('customer_value') }}
    where is_latest_at_cutoff
),

latest_values as (
    -- each customer's predicted value per purchase at the latest cutoff CLV has scored
    select
        client_id,
        expected_order_value
    from customer_value
    where as_of_date = (select max(valued.as_of_date) from customer_value as valued)
),

unit_value as (
    select
        max(value) filter (where parameter = 'default_order_value') as default_order_value,
        max(value) filter (where parameter = 'gross_margin_rate') as gross_margin_rate
    from economics
),

contact as (
    select cost_per_message as contact_cost
    from channels
    where channel = {{ sql_string(var('uplift_contact_channel')) }}
),

valued as (
    select
        scores.run_id,
        latest_runs.created_at as run_created_at,
        scores.spec_name,
        scores.model,
        scores.unit_id,
        scores.group_value,
        scores.arm,
        scores.uplift_mean,
        scores.uplift_lower,
        scores.uplift_upper,
        scores.prob_positive,
        scores.p_control,
        scores.p_treated,
        contact.contact_cost,
        coalesce(latest_values.expected_order_value, unit_value.default_order_value)
        * unit_value.gross_margin_rate as margin_per_conversion,
        case when latest_values.expected_order_value is null then 'default' else 'clv' end as order_value_source,
        scores.uplift_mean
        * coalesce(latest_values.expected_order_value, unit_value.default_order_value)
        * unit_value.gross_margin_rate
        - contact.contact_cost as expected_profit
    from scores
    inner join latest_runs on scores.run_id = latest_runs.run_id
    left join latest_values on scores.unit_id = latest_values.client_id
    cross join unit_value
    cross join contact
    where scores.model = {{ sql_string(var('uplift_model')) }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by run_id, arm order by expected_profit desc, unit_id asc, group_value asc
        ) as profit_rank
    from valued
),

final as (
    select
        *,
        sum(contact_cost) over (
            partition by run_id, arm order by profit_rank rows between unbounded preceding and current row
        ) as cumulative_cost,
        expected_profit > 0
        and sum(contact_cost) over (
            partition by run_id, arm order by profit_rank rows between unbounded preceding and current row
        ) <= {{ number_var('uplift_budget', whole=false) }} as is_selected
    from ranked
)

select * from final
