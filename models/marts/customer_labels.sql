-- One row per (client_id, as_of_date) whose label is known: for training cutoffs, did the
-- client buy in [as_of_date, as_of_date + label_window_days), from the purchases file, when
-- that window is complete; for the scoring cutoff, the target file (the public dataset's
-- label of the cutoff right after the data ends), for the clients it lists.
with

grid as (
    select * from {{ ref('int_client_cutoffs_joined') }}
),

cutoffs as (
    select * from {{ ref('int_cutoffs_scheduled') }}
),

orders as (
    select * from {{ ref('int_orders_aggregated') }}
),

targets as (
    select * from {{ ref('stg_apparel__targets') }}
),

from_purchases as (
    select
        grid.client_id,
        grid.as_of_date,
        cutoffs.label_window_end,
        count(orders.order_id) as orders_in_window,
        coalesce(sum(orders.revenue), 0) as revenue_in_window
    from grid
    inner join cutoffs on grid.as_of_date = cutoffs.as_of_date
    left join orders
        on
            grid.client_id = orders.client_id
            and grid.as_of_date <= orders.purchased_on
            and cutoffs.label_window_end > orders.purchased_on
    where cutoffs.is_label_complete and not cutoffs.is_scoring_cutoff
    group by grid.client_id, grid.as_of_date, cutoffs.label_window_end
),

from_target_file as (
    select
        targets.client_id,
        cutoffs.as_of_date,
        cutoffs.label_window_end,
        targets.target
    from targets
    cross join cutoffs
    where cutoffs.is_scoring_cutoff
),

final as (
    select
        client_id,
        as_of_date,
        label_window_end,
        orders_in_window > 0 as purchased_next_90d,
        cast(orders_in_window as bigint) as orders_in_window,
        cast(revenue_in_window as double) as revenue_in_window,
        'purchases' as label_source
    from from_purchases
    union all
    select
        client_id,
        as_of_date,
        label_window_end,
        target = 1 as purchased_next_90d,
        null as orders_in_window,
        null as revenue_in_window,
        'target_file' as label_source
    from from_target_file
)

select * from final
