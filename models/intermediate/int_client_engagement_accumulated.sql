-- Per client and event day: the day's message events by channel and their running totals
-- since the client's first message. A window's count at a cutoff is then the difference of
-- two running totals found by ASOF joins, which keeps the 12.7M-row history to one pass.
{%- set counted = [
    ('sends', 'send'), ('opens', 'open'), ('clicks', 'click'), ('purchases', 'purchase')
] %}
{%- set flags = [
    ('hard_bounces', 'hard_bounce'), ('soft_bounces', 'soft_bounce'),
    ('unsubscribes', 'unsubscribe'), ('complaints', 'complain'), ('spam_reports', 'hbq_spam')
] %}
{%- set channels = [('email', 'email'), ('push', 'mobile_push')] %}
with

messages as (
    select * from {{ ref('stg_apparel__messages') }}
),

daily as (
    select
        client_id,
        event_date,
        {% for name, event in counted -%}
            {% for short, channel in channels -%}
                count(*) filter (where event = '{{ event }}' and channel = '{{ channel }}') as {{ name }}_{{ short }},
            {% endfor -%}
        {% endfor -%}
        {% for name, event in flags -%}
            count(*) filter (where event = '{{ event }}') as {{ name }},
        {% endfor -%}
        count(*) as events
    from messages
    group by client_id, event_date
),

final as (
    select
        client_id,
        event_date,
        {% for name, _ in counted -%}
            {% for short, _ in channels -%}
                sum({{ name }}_{{ short }}) over running as cum_{{ name }}_{{ short }},
            {% endfor -%}
        {% endfor -%}
        {% for name, _ in flags -%}
            sum({{ name }}) over running as cum_{{ name }},
        {% endfor -%}
        sum(events) over running as cum_events,
        max(case when opens_email + opens_push > 0 then event_date end) over running as last_open_date,
        max(case when clicks_email + clicks_push > 0 then event_date end) over running as last_click_date
    from daily
    window running as (partition by client_id order by event_date rows between unbounded preceding and current row)
)

select * from final
