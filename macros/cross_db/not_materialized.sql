{% macro not_materialized() -%}
    {#- The CTE hint that lets each consumer of a CTE read only the columns it needs
        (`name as {{ not_materialized() }} (...)`): DuckDB's `not materialized`; nothing on
        engines that always inline CTEs. -#}
    {{ return('not materialized' if target.type == 'duckdb' else '') }}
{%- endmacro %}
