{% macro condition_holds(condition) -%}
    {#- Run `condition` (SQL returning one boolean) now and return it; null counts as true
        (e.g. nothing stored yet to compare with, so recompute everything). -#}
    {{ return(run_query('select coalesce((' ~ condition ~ '), true)').columns[0].values()[0]) }}
{%- endmacro %}
