-- The repeat-purchase summary the BG/NBD and Gamma-Gamma models read, per client and cutoff,
-- from purchases strictly before the cutoff: one purchase occasion per day a client ordered
-- (orders on one day count once, their revenue summed), times in days.
--
-- frequency is the number of repeat occasions (occasions - 1), recency the days from the
-- first occasion to the last, t_days the days from the first occasion to the cutoff, and
-- monetary_value the mean revenue of the repeat occasions (0 without any). The window
-- columns count occasions and revenue in [as_of_date, label_window_end) for cutoffs whose
-- window the data covers: the actuals an out-of-time evaluation compares with.
with

orders as (
    select * from {{ ref('int_orders_aggregated') }}
),

cutoffs as (
    select * from {{ ref('int_cutoffs_scheduled') }}
),

occasions as (
    select
        client_id,
        purchased_on,
        sum(revenue) as revenue
    from orders
    group by client_id, purchased_on
),

history as (
    select
        occasions.client_id,
        cutoffs.as_of_date,
        min(occasions.purchased_on) as first_purchase_on,
        max(occasions.purchased_on) as last_purchase_on,
        count(*) as occasions_before,
        sum(occasions.revenue) as revenue_before
    from occasions
    inner join cutoffs on occasions.purchased_on < cutoffs.as_of_date
    group by occasions.client_id, cutoffs.as_of_date
),

first_occasion as (
    select
        history.client_id,
        history.as_of_date,
        occasions.revenue as first_revenue
    from history
    inner join occasions
        on
            history.client_id = occasions.client_id
            and history.first_purchase_on = occasions.purchased_on
),

in_window as (
    select
        history.client_id,
        history.as_of_date,
        count(*) as occasions_in_window,
        sum(occasions.revenue) as revenue_in_window
    from history
    inner join cutoffs on history.as_of_date = cutoffs.as_of_date
    inner join occasions
        on
            history.client_id = occasions.client_id
            and history.as_of_date <= occasions.purchased_on
            and cutoffs.label_window_end > occasions.purchased_on
    group by history.client_id, history.as_of_date
),

final as (
    select
        history.client_id,
        history.as_of_date,
        history.first_purchase_on,
        history.last_purchase_on,
        history.occasions_before - 1 as frequency,
        {{ days_between('history.first_purchase_on', 'history.last_purchase_on') }} as recency_days,
        {{ days_between('history.first_purchase_on', 'history.as_of_date') }} as t_days,
        history.revenue_before as revenue_to_date,
        cutoffs.is_scoring_cutoff,
        cutoffs.label_window_end,
        case
            when history.occasions_before > 1
                then (history.revenue_before - first_occasion.first_revenue) / (history.occasions_before - 1)
            else 0
        end as monetary_value,
        cutoffs.is_label_complete and not cutoffs.is_scoring_cutoff as window_complete,
        case
            when cutoffs.is_label_complete and not cutoffs.is_scoring_cutoff
                then coalesce(in_window.occasions_in_window, 0)
        end as occasions_in_window,
        case
            when cutoffs.is_label_complete and not cutoffs.is_scoring_cutoff
                then coalesce(in_window.revenue_in_window, 0)
        end as revenue_in_window
    from history
    inner join cutoffs on history.as_of_date = cutoffs.as_of_date
    inner join first_occasion
        on
            history.client_id = first_occasion.client_id
            and history.as_of_date = first_occasion.as_of_date
    left join in_window
        on
            history.client_id = in_window.client_id
            and history.as_of_date = in_window.as_of_date
)

select * from final
