{% macro compaction_policy() %}
    {{ return(adapter.dispatch('compaction_policy')()) }}
{% endmacro %}


{% macro default__compaction_policy() %}
    {#- Other warehouses rebuild their tables whole (no deletes): nothing to decide. -#}
    {{ return('') }}
{% endmacro %}


{% macro duckdb__compaction_policy() %}
    {#- on-run-start: whether this run's checkpoints compact the deleted rows of the incremental
        tables. DuckDB reclaims deleted rows at a checkpoint by rewriting and merging the row
        groups that hold them ("vacuum"); a daily run deletes the rows it replaces (the scoring
        cutoff of the touched clients) and that rewrite cost 0.5-0.9 s of a 10 s run, every
        run. Deleted rows are skipped by scans, so the compaction waits until some incremental
        table holds more than var compact_dead_row_share (0.2) of deleted rows; then one run
        compacts what several runs left (at scale 1 a daily messages file leaves 4% in
        int_client_engagement_windowed). Row groups whose rows are all deleted are dropped at
        every checkpoint either way. A share of 0 compacts in every run. -#}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set limit = number_var('compact_dead_row_share', whole=false) -%}
    {%- if limit == 0 -%}
        {{ log('compacting deleted rows in every run (compact_dead_row_share: 0)', info=true) }}
        {{ return('reset max_vacuum_tasks') }}
    {%- endif -%}
    {%- set wanted = [] -%}
    {%- for node in graph.nodes.values() | sort(attribute='unique_id')
        if node.resource_type == 'model' and node.package_name == project_name
        and node.config.materialized == 'incremental' -%}
        {%- do wanted.append('(' ~ sql_string(node.schema) ~ ', ' ~ sql_string(node.alias) ~ ')') -%}
    {%- endfor -%}
    {%- set stored = run_query(
        "select schema_name, table_name, estimated_size from duckdb_tables()"
        ~ " where database_name = current_database() and estimated_size > 0"
        ~ " and (schema_name, table_name) in (" ~ (wanted | join(', ') if wanted else "(null, null)") ~ ")"
        ~ " order by all"
    ) -%}
    {%- set counts = [] -%}
    {%- for row in stored.rows -%}
        {%- set relation = api.Relation.create(database=target.database, schema=row[0], identifier=row[1]) -%}
        {%- do counts.append(
            "select " ~ sql_string(row[1]) ~ " as table_name, " ~ row[2] ~ " as stored_rows, count(*) as live_rows from " ~ relation
        ) -%}
    {%- endfor -%}
    {%- set worst = none -%}
    {%- if counts -%}
        {%- set worst = run_query(
            "select table_name, 1 - live_rows / stored_rows as dead_share from ("
            ~ counts | join(' union all ') ~ ") order by dead_share desc, table_name limit 1"
        ).rows[0] -%}
    {%- endif -%}
    {%- if worst is not none and worst[1] > limit -%}
        {{ log('compacting deleted rows this run: ' ~ worst[0] ~ ' holds ' ~ ((worst[1] * 100) | round(1)) ~ '% (limit ' ~ (limit * 100) ~ '%)', info=true) }}
        reset max_vacuum_tasks
    {%- else -%}
        set max_vacuum_tasks = 0
    {%- endif -%}
{% endmacro %}
