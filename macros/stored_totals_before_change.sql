{% macro stored_totals_before_change(date_column) %}
    {#- The import CTEs of a model incremental by client and date (record_changed_clients):
        changes, the clients recomputed this run with their earliest changed date; base_days,
        each one's last stored day before that date; and base, the stored running totals of
        that day, which the recomputed days continue from. The ASOF join sorts its right
        side, so it reads keys only and the totals come from a hash join afterwards. -#}
    changes as (
        select * from {{ changed_clients_relation() }}
    ),

    base_days as (
        select
            changes.client_id,
            stored_days.{{ date_column }}
        from changes
        asof left join (select client_id, {{ date_column }} from {{ this }}) as stored_days
            on changes.client_id = stored_days.client_id and changes.from_date > stored_days.{{ date_column }}
    ),

    base as (
        select
            base_days.client_id,
            stored.* exclude (client_id)
        from base_days
        inner join {{ this }} as stored
            on base_days.client_id = stored.client_id and base_days.{{ date_column }} = stored.{{ date_column }}
    ),
{% endmacro %}
