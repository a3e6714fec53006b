{% macro economics_period_checksums(attributed) -%}
    {#- SQL: per send month, a fingerprint of the attributed orders campaign_economics counts
        in it (exact sum of 64-bit row hashes); a month whose fingerprint changed is
        recomputed. -#}
    select
        cast(date_trunc('month', sent_on) as date) as period,
        sum(cast({{ row_hash(['order_id', 'client_id', 'recipient_client_id', 'bulk_campaign_id', 'channel',
            'sent_on', 'revenue']) }} as decimal(38, 0))) as checksum
    from {{ attributed }}
    where attribution_status = 'attributed'
    group by 1
{%- endmacro %}

{% macro economics_inputs_checksum(orders, channels, economics) -%}
    {#- SQL: one fingerprint of the inputs whose change recomputes every month of
        campaign_economics: the order days (they segment every later send), the send costs and
        the gross margin. -#}
    ({{ relation_checksum(orders, ['client_id', 'purchased_on']) }})
    + ({{ relation_checksum(channels, ['channel', 'cost_per_message']) }})
    + ({{ relation_checksum(economics, ['parameter', 'value']) }})
{%- endmacro %}
