-- Point in time, proved by brute force: recompute key features of every (client, cutoff)
-- straight from staging with the plain rule "event date < as_of_date" and compare with the
-- mart (events dated before their message's first send are not counted, by that rule).
-- Any feature that read an event on or after its cutoff (or missed one before it)
-- shows up as a row here. Clients are sampled by hash to keep the check fast at scale.
with

features as (
    select * from {{ ref('customer_features') }}
    where {{ row_hash(['client_id']) }} % 10 = 0
),

lines as (
    select * from {{ ref('stg_apparel__purchases') }}
),

staged_messages as (
    select * from {{ ref('stg_apparel__messages') }}
),

first_send_days as (
    select
        message_id,
        min(event_date) as first_send_day
    from staged_messages
    where event = 'send'
    group by message_id
),

messages as (
    -- the rule on events dated before their message's first send, recounted: not counted
    select staged_messages.*
    from staged_messages
    left join first_send_days on staged_messages.message_id = first_send_days.message_id
    where
        staged_messages.event = 'send'
        or first_send_days.first_send_day is null
        or staged_messages.event_date >= first_send_days.first_send_day
),

orders_truth as (
    select
        features.client_id,
        features.as_of_date,
        count(distinct cast(lines.purchased_on as string) || '|' || lines.message_id) filter (
            where lines.client_id is not null
        ) as orders_all,
        coalesce(sum(lines.line_revenue), 0) as revenue_all,
        count(distinct cast(lines.purchased_on as string) || '|' || lines.message_id) filter (
            where lines.client_id is not null and lines.purchased_on >= features.as_of_date - 90
        ) as orders_90d,
        {{ days_between("max(lines.purchased_on)", "features.as_of_date") }} as days_since_last_order
    from features
    left join lines
        on features.client_id = lines.client_id and features.as_of_date > lines.purchased_on
    group by features.client_id, features.as_of_date
),

messages_truth as (
    select
        features.client_id,
        features.as_of_date,
        count(*) filter (where messages.event = 'send') as sends_all,
        count(*) filter (
            where messages.event = 'open' and messages.event_date >= features.as_of_date - 90
        ) as opens_90d,
        count(*) filter (
            where messages.event = 'click' and messages.event_date >= features.as_of_date - 30
        ) as clicks_30d,
        {{ days_between("max(messages.event_date) filter (where messages.event = 'open')", "features.as_of_date") }}
            as days_since_last_open
    from features
    left join messages
        on features.client_id = messages.client_id and features.as_of_date > messages.event_date
    group by features.client_id, features.as_of_date
)

select
    features.client_id,
    features.as_of_date,
    features.orders_all,
    orders_truth.orders_all as expected_orders_all,
    features.orders_90d,
    orders_truth.orders_90d as expected_orders_90d,
    features.revenue_all,
    orders_truth.revenue_all as expected_revenue_all,
    features.days_since_last_order,
    orders_truth.days_since_last_order as expected_days_since_last_order,
    features.sends_all,
    messages_truth.sends_all as expected_sends_all,
    features.opens_90d,
    messages_truth.opens_90d as expected_opens_90d,
    features.clicks_30d,
    messages_truth.clicks_30d as expected_clicks_30d,
    features.days_since_last_open,
    messages_truth.days_since_last_open as expected_days_since_last_open
from features
inner join orders_truth using (client_id, as_of_date)
inner join messages_truth using (client_id, as_of_date)
where
    features.orders_all != orders_truth.orders_all
    or features.orders_90d != orders_truth.orders_90d
    or abs(features.revenue_all - orders_truth.revenue_all) > 0.005
    or features.days_since_last_order is distinct from orders_truth.days_since_last_order
    or features.sends_all != messages_truth.sends_all
    or features.opens_90d != messages_truth.opens_90d
    or features.clicks_30d != messages_truth.clicks_30d
    or features.days_since_last_open is distinct from messages_truth.days_since_last_open
