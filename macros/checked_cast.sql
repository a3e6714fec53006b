{% macro checked_cast(column, data_type, what, column_label=none) -%}
    {#- Cast a text column, failing the query with a message that names the file, the column
        and the offending value when a non-empty value does not parse. Relies on the
        `filename` column that the apparel sources add. `column_label` is a SQL expression
        naming the column when it is not `column` itself (e.g. after an unpivot). -#}
    {%- set label = column_label if column_label is not none else "'" ~ column ~ "'" -%}
    case
        when {{ column }} is not null
            and try_cast({{ column }} as {{ data_type }}) is null
            then error(
                'raw file ' || filename || ': column ' || {{ label }} || ' has value '''
                || cast({{ column }} as varchar) || ''' which is not {{ what }}'
            )
        else try_cast({{ column }} as {{ data_type }})
    end
{%- endmacro %}
