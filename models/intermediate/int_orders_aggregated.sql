-- One row per order: the line items of a client on one day attributed to one message.
with

lines as (
    select * from {{ ref('stg_apparel__purchases') }}
),

orders as (
    select
        client_id,
        purchased_on,
        message_id,
        count(*) as lines,
        sum(quantity) as units,
        sum(line_revenue) as revenue,
        max(price) as max_price,
        count(*) filter (where is_sale) as sale_lines
    from lines
    group by client_id, purchased_on, message_id
),

final as (
    select
        *,
        md5(cast(client_id as string) || '|' || cast(purchased_on as string) || '|' || message_id) as order_id,
        -- days since the client's previous order (null for the first); orders on the same
        -- day attributed to different messages have a gap of 0
        {{ days_between(
            'lag(purchased_on) over (partition by client_id order by purchased_on, message_id)', 'purchased_on'
        ) }} as days_since_previous_order
    from orders
)

select * from final
