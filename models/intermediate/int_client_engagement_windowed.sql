-- Message engagement of each client at each cutoff: counts by channel over 30/90/365 days
-- and all time, recency of opens and clicks, negative-event flags, and the mean 7-day rates
-- of the campaigns received in the last 90 days. Every count is a difference of running
-- totals taken strictly before the window's edges (ASOF joins on event_date < edge).
{%- set windows = [30, 90, 365] %}
{%- set counted = ['sends', 'opens', 'clicks', 'purchases'] %}
{%- set channels = ['email', 'push'] %}
{%- set flags = ['hard_bounces', 'soft_bounces', 'unsubscribes', 'complaints', 'spam_reports'] %}
with

grid as (
    select
        client_id,
        as_of_date,
        {% for days in windows -%}
        cast(as_of_date - interval {{ days }} day as date) as edge_{{ days }}d{{ ',' if not loop.last }}
        {% endfor %}
    from {{ ref('int_client_cutoffs_joined') }}
),

accumulated as (
    select * from {{ ref('int_client_engagement_accumulated') }}
),

campaigns_accumulated as (
    select * from {{ ref('int_client_campaigns_accumulated') }}
),

at_cutoff as (
    select grid.client_id, grid.as_of_date, accumulated.* exclude (client_id)
    from grid
    asof left join accumulated
        on grid.client_id = accumulated.client_id and grid.as_of_date > accumulated.event_date
),

{% for days in windows -%}
at_edge_{{ days }}d as (
    select grid.client_id, grid.as_of_date, accumulated.* exclude (client_id)
    from grid
    asof left join accumulated
        on grid.client_id = accumulated.client_id and grid.edge_{{ days }}d > accumulated.event_date
),

{% endfor -%}
campaigns_at_cutoff as (
    select grid.client_id, grid.as_of_date, campaigns_accumulated.* exclude (client_id)
    from grid
    asof left join campaigns_accumulated
        on grid.client_id = campaigns_accumulated.client_id
        and grid.as_of_date > campaigns_accumulated.known_on
),

campaigns_at_edge_90d as (
    select grid.client_id, grid.as_of_date, campaigns_accumulated.* exclude (client_id)
    from grid
    asof left join campaigns_accumulated
        on grid.client_id = campaigns_accumulated.client_id
        and grid.edge_90d > campaigns_accumulated.known_on
),

final as (
    select
        grid.client_id,
        grid.as_of_date,
        {% for name in counted -%}
        {% for channel in channels -%}
        {% for days in windows -%}
        coalesce(c.cum_{{ name }}_{{ channel }}, 0) - coalesce(w{{ days }}.cum_{{ name }}_{{ channel }}, 0)
            as {{ name }}_{{ channel }}_{{ days }}d,
        {% endfor -%}
        coalesce(c.cum_{{ name }}_{{ channel }}, 0) as {{ name }}_{{ channel }}_all,
        {% endfor -%}
        {% endfor -%}
        {% for name in flags -%}
        coalesce(c.cum_{{ name }}, 0) as {{ name }}_all,
        {% endfor -%}
        c.last_open_date,
        c.last_click_date,
        coalesce(cc.cum_campaigns, 0) - coalesce(cw.cum_campaigns, 0) as rated_campaigns_90d,
        coalesce(cc.cum_open_rate, 0) - coalesce(cw.cum_open_rate, 0) as sum_campaign_open_rate_90d,
        coalesce(cc.cum_click_rate, 0) - coalesce(cw.cum_click_rate, 0) as sum_campaign_click_rate_90d
    from grid
    left join at_cutoff as c using (client_id, as_of_date)
    {% for days in windows -%}
    left join at_edge_{{ days }}d as w{{ days }} using (client_id, as_of_date)
    {% endfor -%}
    left join campaigns_at_cutoff as cc using (client_id, as_of_date)
    left join campaigns_at_edge_90d as cw using (client_id, as_of_date)
)

select * from final
