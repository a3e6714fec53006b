-- One row per order with the campaign and channel it is attributed to, by the message id
-- on its purchase lines. The rule: an order is attributed to the message named in its
-- message_id when that message was sent (a send event of that id is staged) on or before
-- the order date and at most var attribution_window_days days before it; the campaign and
-- channel are the message's. The message's recipient may differ from the buyer (a quarter
-- of the real rows): the order still counts for the campaign that sent the message.
-- Every other order is kept with the reason it is not attributed.
with

orders as (
    select * from {{ ref('int_orders_aggregated') }}
),

messages as (
    select * from {{ ref('stg_apparel__messages') }}
),

-- the first send of each message an order names (a message can hold several send events)
message_sends as (
    select
        message_id,
        recipient_client_id,
        bulk_campaign_id,
        channel,
        sent_on
    from (
        select
            message_id,
            client_id as recipient_client_id,
            bulk_campaign_id,
            channel,
            event_date as sent_on,
            row_number() over (
                partition by message_id order by created_at, bulk_campaign_id, channel, client_id
            ) as send_number
        from messages
        where
            event = 'send'
            and message_id in (select orders.message_id from orders)
    ) as numbered_sends
    where send_number = 1
),

joined as (
    select
        orders.order_id,
        orders.client_id,
        orders.purchased_on,
        orders.message_id,
        orders.revenue,
        message_sends.recipient_client_id,
        message_sends.bulk_campaign_id,
        message_sends.channel,
        message_sends.sent_on,
        {{ days_between("message_sends.sent_on", "orders.purchased_on") }} as days_after_send
    from orders
    left join message_sends on orders.message_id = message_sends.message_id
),

final as (
    select
        *,
        case
            when sent_on is null then 'message_not_sent'
            when days_after_send < 0 then 'before_send'
            when days_after_send > {{ number_var('attribution_window_days') }} then 'outside_window'
            else 'attributed'
        end as attribution_status
    from joined
)

select * from final
