{% macro list_every(list, argument, body) -%}
    {#- SQL: true when `body` (an SQL condition on `argument`) holds for every element of
        `list`; true for an empty list. -#}
    {{ return(adapter.dispatch('list_every')(list, argument, body)) }}
{%- endmacro %}

{% macro duckdb__list_every(list, argument, body) -%}
    coalesce(list_bool_and(list_transform({{ list }}, {{ lambda_fn(argument, body) }})), true)
{%- endmacro %}

{% macro spark__list_every(list, argument, body) -%}
    forall({{ list }}, {{ lambda_fn(argument, body) }})
{%- endmacro %}
