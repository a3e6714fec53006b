{% macro number_var(name, whole=true) -%}
    {#- A var that goes into SQL as a number: refuse anything else with a message naming the
        var and its value (a var is outside input: `--vars` on the command line). -#}
    {%- set value = var(name) -%}
    {%- set text = value | string -%}
    {%- set pattern = '[0-9]+' if whole else '[0-9]+([.][0-9]+)?' -%}
    {%- if value is boolean or not modules.re.fullmatch(pattern, text) -%}
        {{ exceptions.raise_compiler_error('var ' ~ name ~ ' is ' ~ text ~ '; expected ' ~ ('a whole number' if whole else 'a number') ~ ' of 0 or more') }}
    {%- endif -%}
    {{- return(text | int if whole else text | float) -}}
{%- endmacro %}
