{% macro list_element(list, position) -%}
    {#- SQL: the element of `list` at the 1-based `position` (negative counts from the end),
        null when the list is shorter. -#}
    {{ return(adapter.dispatch('list_element')(list, position)) }}
{%- endmacro %}

{% macro duckdb__list_element(list, position) -%}
    {{ list }}[{{ position }}]
{%- endmacro %}

{% macro spark__list_element(list, position) -%}
    try_element_at({{ list }}, {{ position }})
{%- endmacro %}
