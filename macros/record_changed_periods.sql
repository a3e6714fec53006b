{% macro record_changed_periods(period_column, staged, period_checksums, inputs_checksum, grain='month') %}
    {#- Pre-hook of a model incremental by period (`grain`, e.g. month): find the earliest
        period whose rows may have changed since the last run (see incremental_state_relation),
        write it to changed_clients_relation() as one row (from_period; null when nothing
        changed) and delete the stored rows of that period and after, which the model then
        recomputes. A period changes when `staged` (a model with load ids and a removal log,
        e.g. the messages) staged or removed rows dated in it after the stored load id, or
        when its fingerprint in `period_checksums` (SQL: period, checksum rows) differs from
        the stored one; when `inputs_checksum` (SQL: one value) differs, or there is no state,
        every period does. A no-op in full builds. -#}
    {%- if not execute or not is_incremental() -%}{{ return('select 1') }}{%- endif -%}
    {%- set state = incremental_state_relation() -%}
    {%- set changes = changed_clients_relation() -%}
    {%- if not table_in_catalog(state) %}
        {{ log('  ' ~ this.identifier ~ ': no stored state, recomputing every period', info=true) }}
        create or replace table {{ changes }} as select date '0001-01-01' as from_period;
    {%- else %}
        create or replace table {{ changes }} as
        with
        current_periods as (
            {{ period_checksums }}
        ),
        stored_periods as (
            select period, checksum from {{ state }} where period is not null
        ),
        changed as (
            select cast(date_trunc({{ sql_string(grain) }}, min(from_date)) as date) as from_period
            from ({{ changed_clients(staged, '(select max(load_id) from ' ~ state ~ ')') }}) as changed_clients
            union all
            select coalesce(current_periods.period, stored_periods.period)
            from current_periods
            full outer join stored_periods on current_periods.period = stored_periods.period
            where current_periods.checksum is distinct from stored_periods.checksum
            union all
            select date '0001-01-01'
            where (select max(inputs_checksum) from {{ state }}) is distinct from ({{ inputs_checksum }})
        )
        select min(from_period) as from_period from changed;
    {%- endif %}
        delete from {{ this }}
        where {{ adapter.quote(period_column) }} >= (select from_period from {{ changes }})
{% endmacro %}
