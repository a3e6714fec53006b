{% macro record_changed_partitions(column, expected, touched=[], signature=[], inputs_checksum=none) %}
    {#- Pre-hook of a model incremental by whole partitions of `column` (e.g. every client at a
        cutoff, when a per-cutoff aggregate feeds each row): list in changed_clients_relation()
        the partitions to recompute and delete their stored rows, and those of partitions no
        longer expected. A partition is recomputed when it is not stored, when its row count
        or the fingerprint of `signature` columns differs between `expected` (SQL: the rows the
        model will hold, with `column` and `signature`) and the stored rows, or when one of
        `touched` (relations with `column` and load_id) holds a row of it computed after the
        load id of this model's last run (incremental_state_relation). Every partition is
        recomputed when there is no state or `inputs_checksum` (SQL: one value, e.g. of a
        seed) differs from the stored one. store_period_state is the matching post-hook. A
        no-op in full builds. -#}
    {%- if not execute or not is_incremental() -%}{{ return('select 1') }}{%- endif -%}
    {%- set state = incremental_state_relation() -%}
    {%- set changes = changed_clients_relation() -%}
    {%- set key = adapter.quote(column) -%}
    {%- set found = table_in_catalog(state) -%}
    {%- set watermark = '(select max(load_id) from ' ~ state ~ ')' if found else '-1' -%}
    {%- set everything = not found or (inputs_checksum is not none and run_query(
        'select (select max(inputs_checksum) from ' ~ state ~ ') is distinct from (' ~ inputs_checksum ~ ')'
    ).columns[0].values()[0]) -%}
    {%- if everything -%}
        {{ log('  ' ~ this.identifier ~ ': no stored state or an input changed, recomputing every partition', info=true) }}
    {%- endif %}
    {%- set fingerprint = 'sum(' ~ row_hash(signature) ~ ')' if signature else '0' %}
    create or replace table {{ changes }} as
    with
    wanted as (
        select {{ key }}, count(*) as n_rows, {{ fingerprint }} as fingerprint
        from ({{ expected }}) as expected_rows
        group by {{ key }}
    ),
    stored as (
        select {{ key }}, count(*) as n_rows, {{ fingerprint }} as fingerprint
        from {{ this }}
        group by {{ key }}
    ),
    touched as (
        {%- for relation in touched %}
            select distinct {{ key }} from {{ relation }} where load_id > {{ watermark }}
            union
        {%- endfor %}
        select {{ key }} from wanted where {{ 'true' if everything else 'false' }}
    )
    select wanted.{{ key }}
    from wanted
    left join stored on wanted.{{ key }} = stored.{{ key }}
    where
        stored.{{ key }} is null
        or stored.n_rows != wanted.n_rows
        or stored.fingerprint is distinct from wanted.fingerprint
        or wanted.{{ key }} in (select touched.{{ key }} from touched);
    delete from {{ this }}
    where
        {{ key }} in (select changes.{{ key }} from {{ changes }} as changes)
        or {{ key }} not in (select distinct expected_rows.{{ key }} from ({{ expected }}) as expected_rows)
{% endmacro %}
