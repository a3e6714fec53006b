-- Campaign x day x channel funnel for BI, from the daily campaign-by-channel table: sends,
-- opens, clicks, purchases, their rates and the cost of the sends.
with

daily as (
    select * from {{ ref('stg_apparel__campaign_channel_daily_events') }}
),

channels as (
    select * from {{ ref('channels') }}
),

pivoted as (
    select
        event_date,
        bulk_campaign_id,
        channel,
        {#- every raw event of the vocabulary (dbt_project.yml) -#}
        {%- set vocab = vocabulary() %}
        {%- set events = (vocab.counted_events.values() | list) + (vocab.flag_events.values() | list) %}
        {% for event in events -%}
            cast(coalesce(sum(event_count) filter (where event = '{{ event }}'), 0) as bigint) as {{ event }}s,
            cast(coalesce(sum(client_count) filter (where event = '{{ event }}'), 0) as bigint) as {{ event }}_clients,
        {% endfor -%}
        count(*) as counter_rows
    from daily
    group by event_date, bulk_campaign_id, channel
),

final as (
    select
        pivoted.event_date,
        pivoted.bulk_campaign_id,
        pivoted.channel,
        pivoted.sends,
        pivoted.opens,
        pivoted.clicks,
        pivoted.purchases,
        pivoted.hard_bounces,
        pivoted.soft_bounces,
        pivoted.unsubscribes,
        pivoted.complains as complaints,
        pivoted.hbq_spams as spam_reports,
        pivoted.send_clients,
        pivoted.open_clients,
        pivoted.click_clients,
        pivoted.purchase_clients,
        -- same-day rates: opens of a day can belong to sends of earlier days, so these are
        -- for trend charts; campaign totals should sum the counts first
        least(pivoted.open_clients / nullif(pivoted.send_clients, 0), 1.0) as open_rate,
        least(pivoted.click_clients / nullif(pivoted.send_clients, 0), 1.0) as click_rate,
        least(pivoted.click_clients / nullif(pivoted.open_clients, 0), 1.0) as click_to_open_rate,
        pivoted.sends * channels.cost_per_message as send_cost,
        pivoted.sends * channels.cost_per_message / nullif(pivoted.purchases, 0) as cost_per_purchase
    from pivoted
    inner join channels on pivoted.channel = channels.channel
)

select * from final
