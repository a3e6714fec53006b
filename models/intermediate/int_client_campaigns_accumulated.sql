-- Per client and day on which a received campaign's 7-day rates become usable for that
-- client (the later of the day the rates are known and the client's first send of the
-- campaign, so a cutoff never counts a campaign the client had not yet received): how many
-- such campaigns, the sum of their rates, and the running totals of both. Rates are summed
-- as decimals: exact, so the totals do not depend on the order rows arrive in (a double sum
-- differs in the last bits between a full and an incremental build).
--
-- Incremental by client and date, like int_client_engagement_accumulated: only clients whose
-- staged messages changed since the last run are recomputed, from the earliest changed day
-- on. If the campaign rates themselves changed (rates_checksum), every client is recomputed.
{{ config(
    materialized=incremental_where_supported(),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=[
        "{{ record_changed_clients(ref('stg_apparel__messages'), 'known_on',
            recompute_all_if='select max(rates_checksum) is distinct from ('
            ~ campaign_rates_checksum(ref('int_campaign_rates_measured')) ~ ') from ' ~ this) }}"
    ],
    post_hook=["{{ drop_changed_clients() }}"]
) }}
with

-- not materialized: the incremental branch reads it twice, each time a few columns
messages as {{ not_materialized() }} (
    select * from {{ ref('stg_apparel__messages') }}
),

campaign_rates as (
    select * from {{ ref('int_campaign_rates_measured') }}
),
{% if is_incremental() %}
    {{ stored_totals_before_change('known_on') }}
{% endif %}
{% if is_incremental() %}
    candidate_pairs as (
        -- the (client, campaign) pairs whose usable day can fall on or after the client's
        -- earliest change: a send on or after it, or rates known from then on. Only their
        -- first sends are looked up, not the changed clients' whole send history (a day's
        -- active clients hold most of it).
        select distinct
            sends.client_id,
            sends.bulk_campaign_id
        from messages as sends
        inner join changes on sends.client_id = changes.client_id
        where
            sends.event = 'send'
            and (
                sends.event_date >= changes.from_date
                or sends.bulk_campaign_id in (
                    select recent.bulk_campaign_id
                    from campaign_rates as recent
                    where recent.known_on >= (select min(changes.from_date) from changes)
                )
            )
    ),
{% endif %}
received as (
    select
        messages.client_id,
        messages.bulk_campaign_id,
        min(messages.event_date) as received_on
    from messages
    {% if is_incremental() %}
        semi join candidate_pairs
            on
                messages.client_id = candidate_pairs.client_id
                and messages.bulk_campaign_id = candidate_pairs.bulk_campaign_id
    {% endif %}
    where messages.event = 'send'
    group by messages.client_id, messages.bulk_campaign_id
),

daily as (
    select
        received.client_id,
        greatest(campaign_rates.known_on, received.received_on) as known_on,
        count(*) as campaigns,
        sum(cast(campaign_rates.open_rate_7d as decimal(18, 12))) as sum_open_rate,
        sum(cast(campaign_rates.click_rate_7d as decimal(18, 12))) as sum_click_rate
    from received
    inner join campaign_rates on received.bulk_campaign_id = campaign_rates.bulk_campaign_id
    group by received.client_id, greatest(campaign_rates.known_on, received.received_on)
),

scoped as (
    select daily.*
    from daily
    {% if is_incremental() %}
        inner join changes on daily.client_id = changes.client_id and daily.known_on >= changes.from_date
    {% endif %}
),

running as (
    select
        client_id,
        known_on,
        -- stored narrow (bigint, decimal(18, 12): 8 bytes, not a sum's 16); see final
        cast(sum(campaigns) over running as bigint) as cum_campaigns,
        sum(sum_open_rate) over running as cum_open_rate,
        sum(sum_click_rate) over running as cum_click_rate
    from scoped
    window running as (partition by client_id order by known_on rows between unbounded preceding and current row)
),

final as (
    select
        running.client_id,
        running.known_on,
        {%- for c, data_type in [
            ('campaigns', 'bigint'), ('open_rate', 'decimal(18, 12)'), ('click_rate', 'decimal(18, 12)')
        ] %}
            {%- if is_incremental() %}
                cast(coalesce(base.cum_{{ c }}, 0) + running.cum_{{ c }} as {{ data_type }}) as cum_{{ c }},
            {%- else %}
                cast(running.cum_{{ c }} as {{ data_type }}) as cum_{{ c }},
            {%- endif %}
        {%- endfor %}
        ({{ campaign_rates_checksum('campaign_rates') }}) as rates_checksum,
        {{ load_id() }} as load_id
    from running
    {% if is_incremental() %}
        left join base on running.client_id = base.client_id
    {% endif %}
)

select * from final
