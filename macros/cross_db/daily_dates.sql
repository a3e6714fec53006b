{% macro daily_dates(first_day, last_day, column_name) -%}
    {#- SQL query: one row per day from `first_day` through `last_day` (SQL date expressions
        that need no relation), in column `column_name` of type date. -#}
    {{ return(adapter.dispatch('daily_dates')(first_day, last_day, column_name)) }}
{%- endmacro %}

{% macro duckdb__daily_dates(first_day, last_day, column_name) -%}
    select cast(unnest(generate_series({{ first_day }}, {{ last_day }}, interval 1 day)) as date) as {{ column_name }}
{%- endmacro %}

{% macro spark__daily_dates(first_day, last_day, column_name) -%}
    select explode(sequence(cast({{ first_day }} as date), cast({{ last_day }} as date), interval 1 day))
        as {{ column_name }}
{%- endmacro %}
