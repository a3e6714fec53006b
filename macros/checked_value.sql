{% macro checked_value(column, condition, raw_column, what, file_column='source_file') -%}
    {#- Pass a typed value through, failing the query with a message naming the raw file, the
        raw column and the value when `condition` (about `column`) is false. -#}
    case
        when {{ column }} is not null and not ({{ condition }})
            then {{ raise_error() }}(
                'raw file ' || {{ file_column }} || ': column {{ raw_column }} has value '''
                || cast({{ column }} as string) || ''' which is not {{ what }}'
            )
        else {{ column }}
    end
{%- endmacro %}
