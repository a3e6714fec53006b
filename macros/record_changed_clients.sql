{% macro record_changed_clients(staged, date_column, recompute_all_if=none) %}
    {#- Pre-hook of a model incremental by client and date: list the clients whose rows in
        `staged` changed after the load id of the last run that wrote {{ this }} (its largest
        load_id; see changed_clients) in changed_clients_relation(), and delete their stored
        rows dated on or after the earliest change, which the model then recomputes. When
        `recompute_all_if` (an SQL condition on the stored table, e.g. an input's checksum
        differs) holds, every staged client is listed from the start and every row goes. A
        no-op in full builds. -#}
    {%- if not execute or not is_incremental() -%}{{ return('select 1') }}{%- endif -%}
    {%- set changes = changed_clients_relation() -%}
    {%- set everything = recompute_all_if is not none
        and condition_holds(recompute_all_if) -%}
    {%- if everything %}
        {{ log('  ' ~ this.identifier ~ ': an input changed, recomputing every client', info=true) }}
        create or replace table {{ changes }} as
        select distinct client_id, date '0001-01-01' as from_date from {{ staged }};
        delete from {{ this }}
    {%- else %}
        create or replace table {{ changes }} as
        {{ changed_clients(staged, last_load_id()) }};
        delete from {{ this }} as stored
        using {{ changes }} as changes
        where stored.client_id = changes.client_id and stored.{{ adapter.quote(date_column) }} >= changes.from_date
    {%- endif %}
{% endmacro %}
