{% macro relation_checksum(relation, columns) -%}
    {#- SQL: an order-free fingerprint of `columns` of `relation` (the exact sum of 64-bit row
        hashes, as decimals so that no engine overflows; null when empty). A model built
        from the relation stores it and recomputes what depends on it when it changes. -#}
    select sum(cast({{ row_hash(columns) }} as decimal(38, 0))) from {{ relation }}
{%- endmacro %}
