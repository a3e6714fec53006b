{% macro log_removed_rows(batch, date_column) %}
    {#- Called from a model incremental by raw file before it runs (run and build only): log
        the clients whose staged rows this build removes, with the earliest such date and the
        load id, to removed_rows_relation(this). In an incremental build that is the rows of
        batch.replaced files (changed or gone); in a --full-refresh of an existing table,
        every row. Logging more than is then removed (a failed build) costs only a recompute
        downstream; a client whose rows go is never left out. -#}
    {%- if not execute or flags.WHICH not in ('run', 'build') or config.get('materialized') != 'incremental' -%}
        {{ return('') }}
    {%- endif -%}
    {%- set existing = load_relation(this) -%}
    {%- if existing is none -%}{{ return('') }}{%- endif -%}
    {%- if is_incremental() and not batch.replaced -%}{{ return('') }}{%- endif -%}
    {%- set log = removed_rows_relation(this) -%}
    {%- call statement('log_removed_rows') -%}
        create table if not exists {{ log }} (client_id bigint, from_date date, load_id bigint);
        insert into {{ log }}
        select client_id, min({{ adapter.quote(date_column) }}), {{ load_id() }}
        from {{ this }}
        {% if is_incremental() -%}
            where source_file in (
                {%- for p in batch.replaced %}{{ sql_string(p) }}{{ ', ' if not loop.last }}{% endfor -%}
            )
        {%- endif %}
        group by client_id
    {%- endcall -%}
{% endmacro %}
