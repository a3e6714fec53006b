-- One row per client and holdout experiment (campaign) for experiment analysis: the arm,
-- and the outcome in the var holdout_window_days days from the assignment day (orders and
-- revenue of the client, whatever message they name: a holdout measures all purchases, not
-- only attributed ones). window_complete says whether the purchases data covers the whole
-- window; analyse only complete windows. Empty when there is no assignment file.
with

assignments as (
    select * from {{ ref('stg_apparel__campaign_assignments') }}
),

orders as (
    select * from {{ ref('int_orders_aggregated') }}
),

data_end as (
    select max(orders.purchased_on) as last_purchase_on from orders
),

windowed as (
    select
        assignments.bulk_campaign_id,
        assignments.client_id,
        assignments.variant,
        assignments.assigned_at,
        assignments.assigned_on,
        cast(assignments.assigned_on + interval {{ number_var('holdout_window_days') }} day as date) as window_end,
        count(orders.order_id) as orders_in_window,
        -- summed as decimals: exact, whatever order the rows arrive in
        cast(coalesce(sum(cast(orders.revenue as decimal(18, 4))), 0) as double) as revenue_in_window
    from assignments
    left join orders
        on
            assignments.client_id = orders.client_id
            and assignments.assigned_on <= orders.purchased_on
            and assignments.assigned_on + interval {{ number_var('holdout_window_days') }} day > orders.purchased_on
    group by
        assignments.bulk_campaign_id,
        assignments.client_id,
        assignments.variant,
        assignments.assigned_at,
        assignments.assigned_on
),

final as (
    select
        windowed.bulk_campaign_id,
        windowed.client_id,
        windowed.variant,
        windowed.variant = {{ sql_string(var('holdout_control_arm')) }} as is_control,
        windowed.assigned_at,
        windowed.assigned_on,
        windowed.window_end,
        windowed.window_end <= data_end.last_purchase_on + 1 as window_complete,
        cast(windowed.orders_in_window as bigint) as orders_in_window,
        cast(windowed.orders_in_window > 0 as integer) as converted,
        windowed.revenue_in_window
    from windowed
    cross join data_end
)

select * from final
