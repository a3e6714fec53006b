{% macro require_not_null(column) -%}
    {#- Fail the query, naming file and column, when a key column is empty. -#}
    case
        when {{ column }} is null
            then error('raw file ' || filename || ': column {{ column }} is empty on a row where a value is required')
        else {{ column }}
    end
{%- endmacro %}
