{% macro json_object_agg(key, value) -%}
    {#- SQL aggregate: a JSON object text with one `key`: `value` pair per row of the group. -#}
    {{ return(adapter.dispatch('json_object_agg')(key, value)) }}
{%- endmacro %}

{% macro duckdb__json_object_agg(key, value) -%}
    cast(json_group_object({{ key }}, {{ value }}) as string)
{%- endmacro %}

{% macro spark__json_object_agg(key, value) -%}
    to_json(map_from_entries(collect_list(struct({{ key }}, {{ value }}))))
{%- endmacro %}
