{% macro incremental_where_supported() -%}
    {#- The materialization of the models that update in place (delete + insert): incremental
        on DuckDB; a full rebuild (table) on Spark, whose plain Parquet/Hive tables take no
        DELETE (that needs Delta or Iceberg, whose jars are not installable here). -#}
    {{ return('incremental' if target.type == 'duckdb' else 'table') }}
{%- endmacro %}
