{% macro windowed_sum(expression, date_column, days=none, offset_days=0) -%}
    {#- Sum of `expression` over rows whose `date_column` lies in
        [as_of_date - offset_days - days, as_of_date - offset_days), or over all rows before
        as_of_date - offset_days when days is none. Expects an `as_of_date` column in scope
        and rows already restricted to dates before as_of_date. -#}
    coalesce(sum({{ expression }}) filter (
        where {{ date_column }} < as_of_date - {{ offset_days }}
        {%- if days is not none %}
            and {{ date_column }} >= as_of_date - {{ offset_days + days }}
        {%- endif %}
    ), 0)
{%- endmacro %}
