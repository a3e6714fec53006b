{% macro checked_date(column, fmt='%Y-%m-%d', data_type='date', required=true) -%}
    {#- Parse a raw date or timestamp strictly: its text must fully match the `date` (or
        `timestamp`) rule of the `value_rules` var (four-digit year), parse with the exact
        strptime format, and fall in the year range of `value_rules` (min_year). An empty
        value fails when `required`. Messages name the file, the column and the value. -#}
    {%- set rules = var('value_rules') -%}
    {%- set pattern = rules['timestamp'] if data_type == 'timestamp' else rules['date'] -%}
    case
        when {{ column }} is null then {{ empty_value("'" ~ column ~ "'", 'a date', required) }}
        when not {{ full_match('cast(' ~ column ~ ' as string)', pattern) }}
            or {{ try_parse_timestamp('cast(' ~ column ~ ' as string)', fmt) }} is null
            -- the pattern fixes a four-digit year in front, so text order is year order
            or left(cast({{ column }} as string), 4) < '{{ rules['min_year'] | int }}'
            then {{ raise_error() }}(
                'raw file ' || filename || ': column {{ column }} has value '''
                || cast({{ column }} as string) || ''' which is not a date in the format {{ fmt }} from year {{ rules['min_year'] | int }}'
            )
        else cast({{ try_parse_timestamp('cast(' ~ column ~ ' as string)', fmt) }} as {{ data_type }})
    end
{%- endmacro %}
