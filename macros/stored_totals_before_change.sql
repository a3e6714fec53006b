{% macro stored_totals_before_change(date_column) %}
    {#- The import CTEs of a model incremental by client and date (record_changed_clients):
        changes, the clients recomputed this run with their earliest changed date; and base,
        each one's stored running totals of its last day before that date, which the
        recomputed days continue from. The pre-hook has already deleted each changed
        client's rows from that date on, so that day is the client's last stored one: one
        hash aggregate over the changed clients' rows (an ASOF join sorted every stored key
        and cost three times as much). DuckDB only, as are incremental runs. -#}
    changes as (
        select * from {{ changed_clients_relation() }}
    ),

    base as (
        -- each changed client's last stored row, whole (a struct, so a null column is kept)
        select unnest(last_row)
        from (
            select arg_max(stored, stored.{{ date_column }}) as last_row
            from {{ this }} as stored
            where stored.client_id in (select changes.client_id from changes)
            group by stored.client_id
        ) as last_rows
    ),
{% endmacro %}
