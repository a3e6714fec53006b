-- Warns with the count of message events dated before their message's first send: they are
-- quarantined (int_message_events_quarantined) and counted in no feature.
{{ config(severity='warn') }}

with

quarantined as (
    select * from {{ ref('int_message_events_quarantined') }}
)

select
    event,
    channel,
    count(*) as n_events,
    max(days_before_send) as max_days_before_send
from quarantined
group by event, channel
