{% macro store_period_state(period_checksums=none, inputs_checksum=none) %}
    {#- Post-hook pairing record_changed_periods or record_changed_partitions (run by full
        builds too): store this run's load id and, when given, the inputs' fingerprints
        (`inputs_checksum`, one value; `period_checksums`, period and checksum rows) in
        incremental_state_relation(), and drop the list of changes. It runs only after the
        model's rows were written: if the run fails, the old state stays and the next run
        recomputes at least as much. -#}
    {%- if not execute or config.get('materialized') != 'incremental' -%}{{ return('select 1') }}{%- endif -%}
    {%- set inputs = '(' ~ inputs_checksum ~ ')' if inputs_checksum is not none else 'cast(null as hugeint)' %}
    create or replace table {{ incremental_state_relation() }} as
    {%- if period_checksums is not none %}
        with
        current_periods as (
            {{ period_checksums }}
        )
        select
            {{ load_id() }} as load_id,
            {{ inputs }} as inputs_checksum,
            period,
            checksum
        from current_periods
        union all
        -- a row even without periods, so the load id and inputs are kept
        select {{ load_id() }}, {{ inputs }}, null, null;
    {%- else %}
        select {{ load_id() }} as load_id, {{ inputs }} as inputs_checksum;
    {%- endif %}
    drop table if exists {{ changed_clients_relation() }}
{% endmacro %}
