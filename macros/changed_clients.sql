{% macro changed_clients(staged, watermark) %}
    {#- SQL for the clients whose staged messages changed after load id `watermark` (an SQL
        expression), one row each with the earliest event date that changed: rows a later
        load staged, and rows removed since (the staged model's removal log, when present).
        An incremental model recomputes those clients from that date on. -#}
    {%- set log = none -%}
    {%- if execute -%}
        {#- asked of the catalog, not dbt's relation cache: the staging model creates the log
            with a plain statement, earlier in the same run, and the cache never hears of it -#}
        {%- set wanted = removed_rows_relation(staged) -%}
        {%- if table_in_catalog(wanted) -%}{%- set log = wanted -%}{%- endif -%}
    {%- endif %}
    select
        client_id,
        min(event_date) as from_date
    from (
        select
            client_id,
            event_date
        from {{ staged }}
        where load_id > {{ watermark }}
        {%- if log is not none %}
            union all
            select
                client_id,
                from_date as event_date
            from {{ log }}
            where load_id > {{ watermark }}
        {%- endif %}
    ) as changes
    group by client_id
{% endmacro %}
