{% macro message_checksum() -%}
    {#- A 64-bit hash of one staged message row; summed (exactly, as hugeint) per client it
        fingerprints the client's rows whatever their order. -#}
    hash(bulk_campaign_id, message_id, event, channel, created_at, source_file)
{%- endmacro %}
