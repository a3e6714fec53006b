{% macro monthly_dates(first_month, last_date, column_name, relation) -%}
    {#- SQL query: one row per month start from `first_month` through `last_date` (SQL date
        expressions over the one-row `relation`), in column `column_name`. -#}
    {{ return(adapter.dispatch('monthly_dates')(first_month, last_date, column_name, relation)) }}
{%- endmacro %}

{% macro duckdb__monthly_dates(first_month, last_date, column_name, relation) -%}
    select unnest(generate_series({{ first_month }}, {{ last_date }}, interval 1 month)) as {{ column_name }}
    from {{ relation }}
{%- endmacro %}

{% macro spark__monthly_dates(first_month, last_date, column_name, relation) -%}
    select explode(sequence(cast({{ first_month }} as date), cast({{ last_date }} as date), interval 1 month))
        as {{ column_name }}
    from {{ relation }}
{%- endmacro %}
