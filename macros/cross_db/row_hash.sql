{% macro row_hash(columns) -%}
    {#- SQL: a 64-bit hash of the listed column expressions. -#}
    {{ return(adapter.dispatch('row_hash')(columns)) }}
{%- endmacro %}

{% macro duckdb__row_hash(columns) -%}
    hash({{ columns | join(', ') }})
{%- endmacro %}

{% macro spark__row_hash(columns) -%}
    xxhash64({{ columns | join(', ') }})
{%- endmacro %}
