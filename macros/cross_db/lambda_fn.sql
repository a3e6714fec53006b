{% macro lambda_fn(argument, body) -%}
    {#- SQL: an anonymous function of one `argument` for the list functions (list_map,
        list_keep, list_every). -#}
    {{ return(adapter.dispatch('lambda_fn')(argument, body)) }}
{%- endmacro %}

{% macro duckdb__lambda_fn(argument, body) -%}
    lambda {{ argument }}: {{ body }}
{%- endmacro %}

{% macro spark__lambda_fn(argument, body) -%}
    {{ argument }} -> {{ body }}
{%- endmacro %}
