{% macro lifecycle_segment(first_order_on, last_order_on, at) -%}
    {#- A client's lifecycle segment at day `at`, from their first order and their latest order
        strictly before it (null: none): prospect, new (first order at most var
        segment_new_days before), active (latest at most var segment_lapsed_days before) or
        lapsed. -#}
    case
        when {{ last_order_on }} is null then 'prospect'
        when {{ days_between(first_order_on, at) }} <= {{ number_var('segment_new_days') }} then 'new'
        when {{ days_between(last_order_on, at) }} <= {{ number_var('segment_lapsed_days') }} then 'active'
        else 'lapsed'
    end
{%- endmacro %}
