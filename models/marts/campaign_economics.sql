-- Campaign economics for BI, one row per send month x campaign x channel x lifecycle segment:
-- sends and their cost (channels seed), the orders and revenue attributed to those sends
-- (int_orders_attributed: by the message id on the purchase lines), conversion rates, cost
-- per conversion, ROAS and profit (gross margin from the targeting_economics seed minus the
-- send cost). An attributed order counts in the month and segment of the send it came from,
-- so revenue sits beside the cost that produced it. Ratios are of this row's sums: to roll
-- up, sum the counts and amounts first, then divide.
--
-- Incremental by send month: a run recomputes the months from the earliest one that may have
-- changed (messages staged or removed in it since the last run, or its attributed orders'
-- fingerprint changed) and keeps the earlier ones; a change in the order days, send costs or
-- margin recomputes every month. The bookkeeping lives in campaign_economics_state beside it.
{{ config(
    materialized=incremental_where_supported(),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=["{{ record_changed_periods('period_month', ref('stg_apparel__messages'),
        economics_period_checksums(ref('int_orders_attributed')),
        economics_inputs_checksum(ref('int_orders_aggregated'), ref('channels'), ref('targeting_economics'))) }}"],
    post_hook=["{{ store_period_state(economics_period_checksums(ref('int_orders_attributed')),
        economics_inputs_checksum(ref('int_orders_aggregated'), ref('channels'), ref('targeting_economics'))) }}"]
) }}
with

messages as (
    select * from {{ ref('stg_apparel__messages') }}
),

orders as (
    select * from {{ ref('int_orders_aggregated') }}
),

attributed as (
    select * from {{ ref('int_orders_attributed') }}
),

channels as (
    select * from {{ ref('channels') }}
),

economics as (
    select * from {{ ref('targeting_economics') }}
),

sends as (
    select
        client_id,
        bulk_campaign_id,
        channel,
        event_date as sent_on
    from messages
    where
        event = 'send'
        {% if is_incremental() %}
            and event_date >= (select changes.from_period from {{ changed_clients_relation() }} as changes)
        {% endif %}
),

order_days as (
    select distinct
        client_id,
        purchased_on
    from orders
),

client_days as (
    select
        client_id,
        purchased_on,
        min(purchased_on) over (partition by client_id) as first_order_on
    from order_days
),

-- the recipient's latest order day strictly before the send (point in time)
sends_with_last_order as (
    {{ asof_join('sends', 'client_days', 'client_id', 'sent_on', 'purchased_on', ['first_order_on', 'purchased_on']) }}
),

segmented as (
    select
        *,
        cast(date_trunc('month', sent_on) as date) as period_month,
        {{ lifecycle_segment('first_order_on', 'purchased_on', 'sent_on') }} as segment
    from sends_with_last_order
),

sent as (
    select
        period_month,
        bulk_campaign_id,
        channel,
        segment,
        count(*) as sends,
        count(distinct client_id) as sent_clients
    from segmented
    group by period_month, bulk_campaign_id, channel, segment
),

-- each attributed order at the send it came from (int_orders_attributed picks the message's
-- first send), segmented like the sends: the recipient's orders strictly before that day
attributed_sends as (
    select * from attributed
    where
        attribution_status = 'attributed'
        {% if is_incremental() %}
            and sent_on >= (select changes.from_period from {{ changed_clients_relation() }} as changes)
        {% endif %}
),

attributed_with_last_order as (
    {{ asof_join(
        'attributed_sends', 'client_days', ['recipient_client_id', 'client_id'], 'sent_on', 'purchased_on',
        ['first_order_on', 'purchased_on as last_order_on']
    ) }}
),

attributed_segmented as (
    select
        *,
        cast(date_trunc('month', sent_on) as date) as period_month,
        {{ lifecycle_segment('first_order_on', 'last_order_on', 'sent_on') }} as segment
    from attributed_with_last_order
),

converted as (
    select
        period_month,
        bulk_campaign_id,
        channel,
        segment,
        -- revenue summed as decimals: exact, whatever order the rows arrive in
        cast(sum(cast(revenue as decimal(18, 4))) as double) as revenue,
        count(*) as conversions,
        count(distinct client_id) as converted_clients
    from attributed_segmented
    group by period_month, bulk_campaign_id, channel, segment
),

margin as (
    select cast(value as double) as gross_margin_rate
    from economics
    where parameter = 'gross_margin_rate'
),

final as (
    select
        sent.period_month,
        sent.bulk_campaign_id,
        sent.channel,
        sent.segment,
        cast(sent.sends as bigint) as sends,
        cast(sent.sent_clients as bigint) as sent_clients,
        cast(coalesce(converted.conversions, 0) as bigint) as conversions,
        cast(coalesce(converted.converted_clients, 0) as bigint) as converted_clients,
        coalesce(converted.revenue, 0.0) as revenue,
        sent.sends * channels.cost_per_message as send_cost,
        coalesce(converted.revenue, 0.0) * margin.gross_margin_rate as gross_margin,
        coalesce(converted.revenue, 0.0) * margin.gross_margin_rate - sent.sends * channels.cost_per_message
            as profit,
        coalesce(converted.conversions, 0) / sent.sends as conversion_rate,
        coalesce(converted.converted_clients, 0) / sent.sent_clients as client_conversion_rate,
        sent.sends * channels.cost_per_message / nullif(converted.conversions, 0) as cost_per_conversion,
        coalesce(converted.revenue, 0.0) / nullif(sent.sends * channels.cost_per_message, 0) as roas,
        converted.revenue / nullif(converted.conversions, 0) as revenue_per_conversion
    from sent
    inner join channels on sent.channel = channels.channel
    cross join margin
    left join converted
        on
            sent.period_month = converted.period_month
            and sent.bulk_campaign_id = converted.bulk_campaign_id
            and sent.channel = converted.channel
            and sent.segment = converted.segment
)

select * from final
