{% macro raise_error() -%}
    {#- The name of the SQL function that fails the query with its text argument when it is
        evaluated: `{{ raise_error() }}('message ' || value)`. -#}
    {{ return(adapter.dispatch('raise_error')()) }}
{%- endmacro %}

{% macro duckdb__raise_error() -%}
    {{ return('error') }}
{%- endmacro %}

{% macro spark__raise_error() -%}
    {{ return('raise_error') }}
{%- endmacro %}
