{% macro removed_since(staged, watermark) -%}
    {#- SQL condition: rows of `staged` were removed (its removal log, see
        removed_rows_relation) after load id `watermark` (an SQL expression); false when the
        model has no log. -#}
    {%- if not execute -%}{{ return('false') }}{%- endif -%}
    {%- set log = removed_rows_relation(staged) -%}
    {%- set found = run_query(
        "select count(*) from information_schema.tables where table_catalog = "
        ~ sql_string(log.database) ~ " and table_schema = " ~ sql_string(log.schema)
        ~ " and table_name = " ~ sql_string(log.identifier)
    ).columns[0].values()[0] -%}
    {%- if found == 0 -%}{{ return('false') }}{%- endif -%}
    exists (select 1 from {{ log }} where load_id > {{ watermark }})
{%- endmacro %}
