{% macro sql_string(value) -%}
    {#- A SQL string literal holding `value` exactly, nothing in it interpreted. Use it for
        every path, file name or var pasted into SQL that cannot be a bound parameter. -#}
    {{- return(adapter.dispatch('sql_string')(value)) -}}
{%- endmacro %}

{% macro default__sql_string(value) -%}
    {#- DuckDB reads backslashes in '...' literally: only single quotes are doubled -#}
    {{- return("'" ~ (value | string | replace("'", "''")) ~ "'") -}}
{%- endmacro %}

{% macro spark__sql_string(value) -%}
    {#- Spark reads backslash escapes in '...': backslashes and quotes are escaped -#}
    {{- return("'" ~ (value | string | replace('\\', '\\\\') | replace("'", "\\'")) ~ "'") -}}
{%- endmacro %}
