{% macro removed_since(staged, watermark) -%}
    {#- SQL condition: rows of `staged` were removed (its removal log, see
        removed_rows_relation) after load id `watermark` (an SQL expression); false when the
        model has no log. -#}
    {%- if not execute -%}{{ return('false') }}{%- endif -%}
    {%- set log = removed_rows_relation(staged) -%}
    {%- if not table_in_catalog(log) -%}{{ return('false') }}{%- endif -%}
    exists (select 1 from {{ log }} where load_id > {{ watermark }})
{%- endmacro %}
