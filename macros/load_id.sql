{% macro load_id() -%}
    {#- The id of this dbt invocation's load: microseconds since 1970 at the run's start, so a
        later run's rows always carry a larger id. Staged rows keep the id of the run that
        staged them; downstream incremental models remember the largest id they have seen. -#}
    cast({{ (run_started_at.timestamp() * 1000000) | int }} as bigint)
{%- endmacro %}
