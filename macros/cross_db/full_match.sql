{% macro full_match(value, pattern) -%}
    {#- SQL: true when the text `value` (an SQL expression) matches the regular expression
        `pattern` (a Jinja string, quoted here) as a whole. -#}
    {{ return(adapter.dispatch('full_match')(value, pattern)) }}
{%- endmacro %}

{% macro duckdb__full_match(value, pattern) -%}
    regexp_full_match({{ value }}, {{ sql_string(pattern) }})
{%- endmacro %}

{% macro spark__full_match(value, pattern) -%}
    ({{ value }} rlike {{ sql_string('^(?:' ~ pattern ~ ')$') }})
{%- endmacro %}
