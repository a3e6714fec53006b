{% macro source(source_name, table_name) -%}
    {#- dbt's source(), except that on Spark a raw apparel file is the view
        register_raw_tables made for it (apparel_raw.<table>): Spark reads files through
        tables, not through a read_csv expression like dbt-duckdb's external_location. -#}
    {%- set relation = builtins.source(source_name, table_name) -%}
    {#- a unit test's fixture (a CTE name, not a relation) is passed through -#}
    {%- if target.type == 'spark' and source_name == 'apparel' and relation is not string
        and relation.schema is defined and relation.schema == 'apparel' -%}
        {{ return(api.Relation.create(schema='apparel_raw', identifier=table_name)) }}
    {%- endif -%}
    {{ return(relation) }}
{%- endmacro %}
