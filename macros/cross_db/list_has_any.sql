{% macro list_has_any(list, others) -%}
    {#- SQL: true when the two lists share an element. -#}
    {{ return(adapter.dispatch('list_has_any')(list, others)) }}
{%- endmacro %}

{% macro duckdb__list_has_any(list, others) -%}
    list_has_any({{ list }}, {{ others }})
{%- endmacro %}

{% macro spark__list_has_any(list, others) -%}
    arrays_overlap({{ list }}, {{ others }})
{%- endmacro %}
