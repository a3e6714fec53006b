{% macro list_map(list, argument, body) -%}
    {#- SQL: `body` (an SQL expression of `argument`) applied to every element of `list`. -#}
    {{ return(adapter.dispatch('list_map')(list, argument, body)) }}
{%- endmacro %}

{% macro duckdb__list_map(list, argument, body) -%}
    list_transform({{ list }}, {{ lambda_fn(argument, body) }})
{%- endmacro %}

{% macro spark__list_map(list, argument, body) -%}
    transform({{ list }}, {{ lambda_fn(argument, body) }})
{%- endmacro %}
