{% macro checked_cast(column, data_type, what, column_label=none, rule=none, required=true) -%}
    {#- Cast a raw column strictly, failing the query with a message that names the file, the
        column and the value. The value's text must fully match the pattern `rule` of the
        `value_rules` var (default: `integer` for integer types, `number` otherwise), so
        1.5e18, 1.6, 0x1F, 1_000, nan and inf are refused, and a float parquet id (whose text
        is 1.515...e+18) too. An empty value fails as well when `required`. Relies on the
        `filename` column the apparel sources add; `column_label` is a SQL expression naming
        the column when it is not `column` itself (e.g. after an unpivot). -#}
    {%- set label = column_label if column_label is not none else "'" ~ column ~ "'" -%}
    {%- set rule = rule or ('integer' if data_type | lower in ('bigint', 'integer', 'int', 'smallint') else 'number') -%}
    {%- set pattern = var('value_rules')[rule] -%}
    case
        when {{ column }} is null then {{ empty_value(label, what, required) }}
        when not {{ full_match('cast(' ~ column ~ ' as string)', pattern) }}
            or try_cast(cast({{ column }} as string) as {{ data_type }}) is null
            then {{ raise_error() }}(
                'raw file ' || filename || ': column ' || {{ label }} || ' has value '''
                || cast({{ column }} as string) || ''' which is not {{ what }}'
            )
        else cast(cast({{ column }} as string) as {{ data_type }})
    end
{%- endmacro %}
