{% macro checked_date(column, fmt='%Y-%m-%d', data_type='date') -%}
    {#- Parse a text date or timestamp with an exact format; fail naming file, column and value. -#}
    case
        when {{ column }} is not null
            and try_strptime(cast({{ column }} as varchar), '{{ fmt }}') is null
            then error(
                'raw file ' || filename || ': column {{ column }} has value '''
                || cast({{ column }} as varchar) || ''' which is not a date in the format {{ fmt }}'
            )
        else cast(try_strptime(cast({{ column }} as varchar), '{{ fmt }}') as {{ data_type }})
    end
{%- endmacro %}
