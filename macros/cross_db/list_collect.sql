{% macro list_collect(expression, condition='true') -%}
    {#- SQL aggregate: the non-null values of `expression` on the rows where `condition` holds,
        as a list; an empty list (not null) when there are none. -#}
    {{ return(adapter.dispatch('list_collect')(expression, condition)) }}
{%- endmacro %}

{% macro duckdb__list_collect(expression, condition) -%}
    coalesce(list({{ expression }}) filter (where {{ condition }}), [])
{%- endmacro %}

{% macro spark__list_collect(expression, condition) -%}
    collect_list({{ expression }}) filter (where {{ condition }})
{%- endmacro %}
