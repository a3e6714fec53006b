{% macro last_load_id() -%}
    {#- SQL: the load id of the last run that wrote {{ this }} (its largest load_id; -1 when
        empty). Rows staged or computed after it are what this run has not yet seen. -#}
    (select coalesce(max(load_id), -1) from {{ this }})
{%- endmacro %}
