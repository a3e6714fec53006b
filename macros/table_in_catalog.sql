{% macro table_in_catalog(relation) -%}
    {#- Whether `relation` exists, asked of the catalog (not dbt's relation cache: the
        bookkeeping tables are created by plain statements the cache never hears of). -#}
    {%- set found = run_query(
        "select count(*) from information_schema.tables where table_catalog = "
        ~ sql_string(relation.database) ~ " and table_schema = " ~ sql_string(relation.schema)
        ~ " and table_name = " ~ sql_string(relation.identifier)
    ).columns[0].values()[0] -%}
    {{ return(found > 0) }}
{%- endmacro %}
