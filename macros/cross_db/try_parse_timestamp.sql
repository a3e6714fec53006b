{% macro try_parse_timestamp(text, fmt) -%}
    {#- SQL: the text parsed with the strptime format `fmt` (%Y %m %d %H %M %S), null when it
        does not parse (an impossible date like 2024-02-30 included). -#}
    {{ return(adapter.dispatch('try_parse_timestamp')(text, fmt)) }}
{%- endmacro %}

{% macro duckdb__try_parse_timestamp(text, fmt) -%}
    try_strptime({{ text }}, {{ sql_string(fmt) }})
{%- endmacro %}

{% macro spark__try_parse_timestamp(text, fmt) -%}
    {%- set java = fmt | replace('%Y', 'yyyy') | replace('%m', 'MM') | replace('%d', 'dd')
        | replace('%H', 'HH') | replace('%M', 'mm') | replace('%S', 'ss') -%}
    try_to_timestamp({{ text }}, {{ sql_string(java) }})
{%- endmacro %}
