-- customer_rfm_summary recounted from the purchase lines by another route: occasions as
-- distinct purchase days before each cutoff, and the window's occasions and revenue. Any
-- (client, cutoff) whose counts differ is returned.
with

summary as (
    select * from {{ ref('customer_rfm_summary') }}
),

lines as (
    select * from {{ ref('stg_apparel__purchases') }}
),

cutoffs as (
    select * from {{ ref('int_cutoffs_scheduled') }}
),

recount as (
    select
        lines.client_id,
        cutoffs.as_of_date,
        count(distinct case when lines.purchased_on < cutoffs.as_of_date then lines.purchased_on end)
            as occasions_before,
        count(
            distinct case
                when
                    lines.purchased_on >= cutoffs.as_of_date
                    and lines.purchased_on < cutoffs.label_window_end
                    then lines.purchased_on
            end
        ) as occasions_in_window,
        min(lines.purchased_on) as first_purchase_on
    from lines
    cross join cutoffs
    group by lines.client_id, cutoffs.as_of_date
)

select
    summary.client_id,
    summary.as_of_date
from summary
left join recount
    on summary.client_id = recount.client_id and summary.as_of_date = recount.as_of_date
where
    recount.client_id is null
    or summary.frequency != recount.occasions_before - 1
    or summary.first_purchase_on != recount.first_purchase_on
    or (summary.window_complete and summary.occasions_in_window != recount.occasions_in_window)
