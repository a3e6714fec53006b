{% macro latest_days_before(grid, probes, keys, date_column, edges) %}
    {#- SQL query: the ASOF join of `probes` (client_id, as_of_date, edge, edge_date: one row
        per grid row and edge) with `keys` (client_id, `date_column`): each probe with the
        latest `date_column` of its client strictly before edge_date (null when none).
        In incremental runs the clients with a single row in `grid` (a daily run: the new
        scoring cutoff, or a touched client's only cutoff after its change) get it from one
        hash aggregate, max(date) filtered by each edge in `edges` ((edge label, grid column)
        pairs), instead of the ASOF join's sort of their keys; the other clients keep the
        ASOF join. Full builds use the ASOF join alone (many cutoffs per client). -#}
    {%- if not is_incremental() %}
        {{ asof_join(probes, keys, 'client_id', 'edge_date', date_column, [date_column]) }}
    {%- else %}
        with

        single_grid as (
            select *
            from {{ grid }}
            where client_id in (
                select counted.client_id
                from {{ grid }} as counted
                group by counted.client_id
                having count(*) = 1
            )
        ),

        single_found as (
            select
                single_grid.client_id,
                single_grid.as_of_date,
                {% for label, column in edges -%}
                    single_grid.{{ column }} as edge_date_{{ loop.index }},
                    max(day_keys.{{ date_column }}) filter (
                        where day_keys.{{ date_column }} < single_grid.{{ column }}
                    ) as found_{{ loop.index }}{{ ',' if not loop.last }}
                {% endfor %}
            from single_grid
            left join {{ keys }} as day_keys on single_grid.client_id = day_keys.client_id
            group by
                single_grid.client_id,
                single_grid.as_of_date
                {%- for label, column in edges %},
                    single_grid.{{ column }}
                {%- endfor %}
        ),

        multi_probes as (
            select * from {{ probes }}
            where client_id not in (select single_grid.client_id from single_grid)
        ),

        multi_keys as (
            select * from {{ keys }}
            where client_id not in (select single_grid.client_id from single_grid)
        )

        {% for label, column in edges -%}
            select
                client_id,
                as_of_date,
                '{{ label }}' as edge,
                edge_date_{{ loop.index }} as edge_date,
                found_{{ loop.index }} as {{ date_column }}
            from single_found
            union all
        {% endfor -%}
        {{ asof_join('multi_probes', 'multi_keys', 'client_id', 'edge_date', date_column, [date_column]) }}
    {%- endif %}
{% endmacro %}
