{% macro empty_value(label, what, required=true) -%}
    {#- The `then` branch of a checked cast when the raw value is empty: an error naming the
        file and the column (`label` is a SQL expression) when a value is `required`, else
        null. Relies on the `filename` column the apparel sources add. -#}
    {%- if required -%}
        {{ raise_error() }}('raw file ' || filename || ': column ' || {{ label }} || ' is empty on a row where {{ what }} is required')
    {%- else -%}
        null
    {%- endif -%}
{%- endmacro %}
