-- One row per (client_id, as_of_date): the point-in-time customer feature mart. Every
-- feature uses only events strictly before as_of_date. Counts are 0 without history; recency
-- and rhythm are null without history, with a has_ flag beside them.
--
-- Incremental by cutoff: the population rates smooth every client's rates at a cutoff, so a
-- cutoff is recomputed whole, when it is new, its clients or scoring flag changed, or the
-- windowed purchases or engagement hold rows of it computed after this model's last run (a
-- daily run: the new scoring cutoff, and the cutoffs after a late event). The others are
-- kept; the bookkeeping lives in customer_features_state beside it.
{%- set vocab = vocabulary() %}
{%- set windows = vocab.engagement_windows | list %}
{#- The columns the vocabulary derives, (name, expression over totals t and population p).
    The YAML lists them (its enforced contract) in the region `targeting vocabulary sync`
    writes by the same rules (python/targeting/data/vocabulary.py); the features after them
    in final are written by hand from the default events and channels. -#}
{%- set derived = [] %}
{%- for measure in ['orders', 'revenue'] %}
    {%- for days in vocab.order_windows %}
        {%- do derived.append((measure ~ '_' ~ days ~ 'd', 't.' ~ measure ~ '_' ~ days ~ 'd')) %}
    {%- endfor %}
{%- endfor %}
{%- for name in vocab.counted_events %}
    {%- for days in windows %}
        {%- do derived.append((name ~ '_' ~ days ~ 'd', 't.' ~ name ~ '_total_' ~ days ~ 'd')) %}
    {%- endfor %}
    {%- do derived.append((name ~ '_all', 't.' ~ name ~ '_total_all')) %}
{%- endfor %}
{%- for name in vocab.counted_events %}
    {%- for channel in vocab.channels %}
        {%- set column = name ~ '_' ~ channel ~ '_90d' %}
        {%- do derived.append((column, 'cast(t.' ~ column ~ ' as bigint)')) %}
    {%- endfor %}
{%- endfor %}
{%- for days in windows %}
    {%- set w = days ~ 'd' %}
    {%- for rate, events in [('open_rate', 'opens'), ('click_rate', 'clicks')] %}
        {%- do derived.append((rate ~ '_' ~ w, beta_smoothed_rate(
            't.' ~ events ~ '_total_' ~ w, 't.sends_total_' ~ w, 'coalesce(p.pop_' ~ rate ~ '_' ~ w ~ ', 0)'
        ))) %}
    {%- endfor %}
{%- endfor %}
{%- for name in vocab.flag_events %}
    {%- do derived.append((name ~ '_all', 'cast(t.' ~ name ~ '_all as bigint)')) %}
{%- endfor %}
{{ vocabulary_columns_listed(derived | map(attribute=0) | list) }}
{{ vocabulary_columns_stored(derived | map(attribute=0) | list) }}
{{ config(
    materialized=incremental_where_supported(),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=["{{ record_changed_partitions('as_of_date',
        'select grid.as_of_date, cutoffs.is_scoring_cutoff from ' ~ ref('int_client_cutoffs_joined')
        ~ ' as grid inner join ' ~ ref('int_cutoffs_scheduled') ~ ' as cutoffs on grid.as_of_date = cutoffs.as_of_date',
        [ref('int_client_engagement_windowed'), ref('int_client_orders_windowed')],
        signature=['is_scoring_cutoff']) }}"],
    post_hook=["{{ store_period_state() }}"]
) }}
with

grid as (
    select * from {{ ref('int_client_cutoffs_joined') }}
    {% if is_incremental() %}
        where as_of_date in (select changes.as_of_date from {{ changed_clients_relation() }} as changes)
    {% endif %}
),

cutoffs as (
    select * from {{ ref('int_cutoffs_scheduled') }}
),

orders as (
    select * from {{ ref('int_client_orders_windowed') }}
),

engagement as (
    select * from {{ ref('int_client_engagement_windowed') }}
),

combined as (
    select
        grid.client_id,
        grid.as_of_date,
        cutoffs.is_scoring_cutoff,
        {{ days_between("grid.first_seen_on", "grid.as_of_date") }} as tenure_days,
        orders.client_id is not null as has_purchase_history,
        orders.days_since_last_order,
        orders.days_since_first_order,
        {% for days in vocab.order_windows -%}
            cast(coalesce(orders.orders_{{ days }}d, 0) as bigint) as orders_{{ days }}d,
            cast(coalesce(orders.revenue_{{ days }}d, 0) as double) as revenue_{{ days }}d,
        {% endfor -%}
        cast(coalesce(orders.orders_all, 0) as bigint) as orders_all,
        cast(coalesce(orders.revenue_all, 0) as double) as revenue_all,
        cast(coalesce(orders.units_90d, 0) as bigint) as units_90d,
        cast(coalesce(orders.units_365d, 0) as bigint) as units_365d,
        cast(coalesce(orders.units_all, 0) as bigint) as units_all,
        cast(coalesce(orders.lines_all, 0) as bigint) as lines_all,
        cast(coalesce(orders.orders_prev_90d, 0) as bigint) as orders_prev_90d,
        cast(coalesce(orders.revenue_prev_90d, 0) as double) as revenue_prev_90d,
        cast(coalesce(orders.max_item_price_all, 0) as double) as max_item_price_all,
        orders.mean_gap_days,
        orders.median_gap_days,
        cast(coalesce(orders.distinct_root_categories, 0) as bigint) as distinct_root_categories,
        cast(coalesce(orders.distinct_leaf_categories, 0) as bigint) as distinct_leaf_categories,
        cast(coalesce(orders.sale_line_share, 0) as double) as sale_line_share,
        coalesce(cast(orders.favourite_root_category as string), 'none') as favourite_root_category,
        {{ star_except(ref('int_client_engagement_windowed'), ['client_id', 'as_of_date', 'load_id'], 'engagement') }}
    from grid
    inner join cutoffs on grid.as_of_date = cutoffs.as_of_date
    left join orders on grid.client_id = orders.client_id and grid.as_of_date = orders.as_of_date
    left join engagement
        on grid.client_id = engagement.client_id and grid.as_of_date = engagement.as_of_date
),

totals as (
    select
        *,
        {% for days in windows + ['all'] -%}
            {% set w = days ~ 'd' if days != 'all' else 'all' -%}
            {% for name in vocab.counted_events -%}
                {%- set per_channel = [] -%}
                {%- for channel in vocab.channels -%}
                    {%- do per_channel.append(name ~ '_' ~ channel ~ '_' ~ w) -%}
                {%- endfor -%}
                cast({{ per_channel | join(' + ') }} as bigint) as {{ name }}_total_{{ w }},
            {% endfor -%}
        {% endfor -%}
        1 as _dummy
    from combined
),

population as (
    -- prior rates for smoothing: the whole population's rates in the same window at the
    -- same cutoff (so they too use only earlier events)
    select
        as_of_date,
        {% for days in windows -%}
            sum(opens_total_{{ days }}d) / nullif(sum(sends_total_{{ days }}d), 0) as pop_open_rate_{{ days }}d,
            sum(clicks_total_{{ days }}d) / nullif(sum(sends_total_{{ days }}d), 0) as pop_click_rate_{{ days }}d,
        {% endfor -%}
        sum(opens_email_90d) / nullif(sum(sends_email_90d), 0) as pop_open_rate_email_90d,
        sum(opens_push_90d) / nullif(sum(sends_push_90d), 0) as pop_open_rate_push_90d,
        sum(clicks_total_90d) / nullif(sum(opens_total_90d), 0) as pop_click_to_open_rate_90d,
        sum(sum_campaign_open_rate_90d) / nullif(sum(rated_campaigns_90d), 0) as pop_campaign_open_rate_90d,
        sum(sum_campaign_click_rate_90d) / nullif(sum(rated_campaigns_90d), 0) as pop_campaign_click_rate_90d
    from totals
    group by as_of_date
),

final as (
    select
        t.client_id,
        t.as_of_date,
        t.is_scoring_cutoff,
        t.tenure_days,
        -- purchases
        t.has_purchase_history,
        t.days_since_last_order,
        t.days_since_first_order,
        t.orders_all,
        t.revenue_all,
        t.units_90d,
        t.units_365d,
        t.units_all,
        t.lines_all,
        case when t.orders_365d > 0 then t.revenue_365d / t.orders_365d else 0 end as avg_order_value_365d,
        case when t.orders_all > 0 then t.revenue_all / t.orders_all else 0 end as avg_order_value_all,
        t.max_item_price_all,
        t.orders_all >= 2 as has_repeat_orders,
        t.mean_gap_days,
        t.median_gap_days,
        t.days_since_last_order - t.median_gap_days as days_overdue,
        t.orders_90d - t.orders_prev_90d as order_trend_90d,
        t.revenue_90d - t.revenue_prev_90d as revenue_trend_90d,
        t.distinct_root_categories,
        t.distinct_leaf_categories,
        t.sale_line_share,
        t.favourite_root_category,
        -- messages
        t.sends_total_all > 0 as has_message_history,
        {{ beta_smoothed_rate('t.opens_email_90d', 't.sends_email_90d', 'coalesce(p.pop_open_rate_email_90d, 0)') }}
            as open_rate_email_90d,
        {{ beta_smoothed_rate('t.opens_push_90d', 't.sends_push_90d', 'coalesce(p.pop_open_rate_push_90d, 0)') }}
            as open_rate_push_90d,
        {{ beta_smoothed_rate(
            'least(t.clicks_total_90d, t.opens_total_90d)',
            't.opens_total_90d',
            'coalesce(least(p.pop_click_to_open_rate_90d, 1), 0)'
        ) }} as click_to_open_rate_90d,
        t.last_open_date is not null as has_opened,
        t.last_click_date is not null as has_clicked,
        {{ days_between("t.last_open_date", "t.as_of_date") }} as days_since_last_open,
        {{ days_between("t.last_click_date", "t.as_of_date") }} as days_since_last_click,
        t.hard_bounces_all > 0 as has_hard_bounce,
        t.unsubscribes_all > 0 as has_unsubscribed,
        t.complaints_all > 0 as has_complained,
        t.spam_reports_all > 0 as has_spam_report,
        case when t.sends_total_365d > 0 then t.sends_push_365d / t.sends_total_365d else 0 end
            as push_share_365d,
        case
            when t.sends_total_all = 0 then 'none'
            when t.sends_push_all > t.sends_email_all then 'mobile_push'
            else 'email'
        end as favourite_channel,
        -- the columns the vocabulary derives
        {% for name, expression in derived -%}
            {{ expression }} as {{ name }},
        {% endfor -%}
        -- campaigns
        cast(t.rated_campaigns_90d as bigint) as rated_campaigns_90d,
        cast(coalesce(
            t.sum_campaign_open_rate_90d / nullif(t.rated_campaigns_90d, 0), p.pop_campaign_open_rate_90d, 0
        ) as double) as mean_campaign_open_rate_90d,
        cast(coalesce(
            t.sum_campaign_click_rate_90d / nullif(t.rated_campaigns_90d, 0), p.pop_campaign_click_rate_90d, 0
        ) as double) as mean_campaign_click_rate_90d
    from totals as t
    inner join population as p on t.as_of_date = p.as_of_date
)

-- stored cutoff by cutoff: a daily run replaces the scoring cutoff's rows, and rows of one
-- cutoff kept together make that delete touch a few row groups, not every one (its commit
-- took 1.0 s for customer_features stored in join order, 0.3 s stored by cutoff)
select * from final
order by as_of_date
