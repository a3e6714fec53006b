{% macro campaign_rates_checksum(rates) -%}
    {#- SQL: an order-free fingerprint of the campaign rates (exact sum of 64-bit row hashes);
        a model built on them stores it and recomputes everything when it changes. -#}
    select sum({{ row_hash(['bulk_campaign_id', 'known_on', 'open_rate_7d', 'click_rate_7d']) }}) from {{ rates }}
{%- endmacro %}

{% macro rfm_segments_checksum(segments) -%}
    {#- SQL: an order-free fingerprint of the rfm_segments seed; customer_segments stores it
        and recomputes every cutoff when it changes. -#}
    {{ relation_checksum(segments, ['r_score', 'f_score', 'segment', 'segment_order']) }}
{%- endmacro %}
