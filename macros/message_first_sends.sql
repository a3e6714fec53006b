{#- Each message's first send day, for the rule on events before it: an open, click or any
    other event of a message dated before the message's first send is quarantined
    (int_message_events_quarantined), not counted. Messages without a staged send keep their
    events: the send may sit in a file not loaded (a sample, a late daily file). -#}
{% macro message_first_sends(messages, scope=none) %}
    select
        {{ messages }}.message_id,
        min({{ messages }}.event_date) as first_send_date
    from {{ messages }}
    where
        {{ messages }}.event = 'send'
        {% if scope -%}
            and {{ messages }}.message_id in (select {{ scope }}.message_id from {{ scope }})
        {%- endif %}
    group by {{ messages }}.message_id
{% endmacro %}

{#- The condition that keeps a message event: a send, an event of a message without a staged
    send, or an event on or after its message's first send day. -#}
{% macro counted_after_first_send(event, event_date, first_send_date) %}
    ({{ event }} = 'send' or {{ first_send_date }} is null or {{ event_date }} >= {{ first_send_date }})
{% endmacro %}

{#- The rows of `events` that count: those the rule above keeps, their first send looked up
    in `messages` (all staged events; by default `events` itself). -#}
{% macro counted_message_events(events, messages=none) %}
    {%- set lookup = messages or events %}
    select {{ events }}.*
    from {{ events }}
    left join (
        {{ message_first_sends(lookup, scope=events if messages else none) }}
    ) as first_sends on {{ events }}.message_id = first_sends.message_id
    where {{ counted_after_first_send(events ~ '.event', events ~ '.event_date', 'first_sends.first_send_date') }}
{% endmacro %}
