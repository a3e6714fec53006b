{% macro sql_string(value) -%}
    {#- A SQL string literal holding `value` exactly: single quotes doubled, nothing else
        interpreted (DuckDB reads backslashes in '...' literally). Use it for every path,
        file name or var pasted into SQL that cannot be a bound parameter. -#}
    {{- "'" ~ (value | string | replace("'", "''")) ~ "'" -}}
{%- endmacro %}
