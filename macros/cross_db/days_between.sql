{% macro days_between(start_date, end_date) -%}
    {#- SQL: whole days from `start_date` to `end_date` (negative when end is earlier), null
        when either is null. -#}
    {{ return(adapter.dispatch('days_between')(start_date, end_date)) }}
{%- endmacro %}

{% macro duckdb__days_between(start_date, end_date) -%}
    datediff('day', {{ start_date }}, {{ end_date }})
{%- endmacro %}

{% macro spark__days_between(start_date, end_date) -%}
    cast(datediff({{ end_date }}, {{ start_date }}) as bigint)
{%- endmacro %}
