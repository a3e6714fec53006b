-- One row per order with the campaign and channel it is attributed to, by the message id
-- on its purchase lines. The rule: an order is attributed to the message named in its
-- message_id when that message was sent (a send event of that id is staged) on or before
-- the order date and at most var attribution_window_days days before it; the campaign and
-- channel are the message's. The message's recipient may differ from the buyer (a quarter
-- of the real rows): the order still counts for the campaign that sent the message.
-- Every other order is kept with the reason it is not attributed.
--
-- Incremental: the orders come from the purchases alone, so while their fingerprint
-- (orders_checksum) is unchanged a run only revisits the orders whose message got a send
-- staged since the last run, and keeps the earlier of the stored first send and the new
-- ones (adding sends can only make the first send earlier; sent_at keeps its timestamp).
-- Nothing re-reads the send history. When the orders changed, or staged messages were
-- removed since the last run, the pre-hook empties the table and every order is recomputed.
{{ config(
    materialized=incremental_where_supported(),
    incremental_strategy='delete+insert',
    unique_key='order_id',
    on_schema_change='fail',
    pre_hook=["{{ delete_all_rows_if(orders_attribution_changed()) }}"]
) }}
{%- set delta = is_incremental() and execute and not condition_holds(orders_attribution_changed()) %}
with

orders as (
    select * from {{ ref('int_orders_aggregated') }}
),

messages as (
    select * from {{ ref('stg_apparel__messages') }}
),
{% if delta %}
    stored as (
        select * from {{ this }}
    ),

    -- sends staged since the last run of the messages the stored orders name, and the
    -- stored first send of those messages: the earliest of them is the first send now
    candidate_sends as (
        select
            messages.message_id,
            messages.client_id as recipient_client_id,
            messages.bulk_campaign_id,
            messages.channel,
            messages.event_date as sent_on,
            messages.created_at as sent_at
        from messages
        where
            messages.event = 'send'
            and messages.load_id > (select max(stored.load_id) from stored)
            and messages.message_id in (select stored.message_id from stored)
    ),

    revisited as (
        select distinct message_id from candidate_sends
    ),

    numbered_sends as (
        select
            *,
            row_number() over (
                partition by message_id order by sent_at, bulk_campaign_id, channel, recipient_client_id
            ) as send_number
        from (
            select * from candidate_sends
            union all
            select distinct
                stored.message_id,
                stored.recipient_client_id,
                stored.bulk_campaign_id,
                stored.channel,
                stored.sent_on,
                stored.sent_at
            from stored
            where
                stored.sent_on is not null
                and stored.message_id in (select revisited.message_id from revisited)
        ) as sends
    ),

    message_sends as (
        select *
        from numbered_sends
        where send_number = 1
    ),

    orders_revisited as (
        select orders.*
        from orders
        where orders.message_id in (select revisited.message_id from revisited)
    ),
{% else %}
    -- the first send of each message an order names (a message can hold several send events)
    message_sends as (
        select
            message_id,
            recipient_client_id,
            bulk_campaign_id,
            channel,
            sent_on,
            sent_at
        from (
            select
                message_id,
                client_id as recipient_client_id,
                bulk_campaign_id,
                channel,
                event_date as sent_on,
                created_at as sent_at,
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
{% endif %}
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
        {{ days_between("message_sends.sent_on", "orders.purchased_on") }} as days_after_send,
        message_sends.sent_at
    from {{ 'orders_revisited' if delta else 'orders' }} as orders
    left join message_sends on orders.message_id = message_sends.message_id
),

final as (
    select
        order_id,
        client_id,
        purchased_on,
        message_id,
        revenue,
        recipient_client_id,
        bulk_campaign_id,
        channel,
        sent_on,
        days_after_send,
        case
            when sent_on is null then 'message_not_sent'
            when days_after_send < 0 then 'before_send'
            when days_after_send > {{ number_var('attribution_window_days') }} then 'outside_window'
            else 'attributed'
        end as attribution_status,
        sent_at,
        ({{ relation_checksum('orders', orders_attribution_columns()) }}) as orders_checksum,
        {{ load_id() }} as load_id
    from joined
)

select * from final
