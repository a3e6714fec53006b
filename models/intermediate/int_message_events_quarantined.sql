-- The rule for message events dated before their message's first send (an open or click a
-- year before the send: a clock or export fault, not engagement): they are counted in no
-- feature (int_client_engagement_accumulated leaves them out) and listed here, one row per
-- staged event, with how many days early each is. A data test warns with their count on
-- every build. Sends themselves, and events of a message with no staged send, are kept.
with

messages as (
    select * from {{ ref('stg_apparel__messages') }}
),

first_sends as (
    {{ message_first_sends('messages') }}
),

quarantined as (
    select
        messages.client_id,
        messages.bulk_campaign_id,
        messages.message_id,
        messages.event,
        messages.channel,
        messages.event_date,
        first_sends.first_send_date,
        {{ days_between('messages.event_date', 'first_sends.first_send_date') }} as days_before_send,
        'before_first_send' as reason,
        messages.source_file
    from messages
    inner join first_sends on messages.message_id = first_sends.message_id
    where not {{ counted_after_first_send('messages.event', 'messages.event_date', 'first_sends.first_send_date') }}
)

select * from quarantined
