{% macro ordered_string_agg(expression, order_by, separator) -%}
    {#- SQL aggregate: the group's `expression` texts joined by `separator` (a Jinja string),
        in the order of `order_by` (an SQL expression). -#}
    {{ return(adapter.dispatch('ordered_string_agg')(expression, order_by, separator)) }}
{%- endmacro %}

{% macro duckdb__ordered_string_agg(expression, order_by, separator) -%}
    string_agg({{ expression }}, {{ sql_string(separator) }} order by {{ order_by }})
{%- endmacro %}

{% macro spark__ordered_string_agg(expression, order_by, separator) -%}
    array_join(
        transform(
            array_sort(collect_list(struct({{ order_by }} as sort_key, {{ expression }} as text_value))),
            {{ lambda_fn('x', 'x.text_value') }}
        ),
        {{ sql_string(separator) }}
    )
{%- endmacro %}
