{% macro asof_join(left, right, key, left_date, right_date, right_columns=[], inclusive=false, join='left') -%}
    {#- SQL query: every row of `left` (a relation or CTE name) with the `right_columns` of the
        `right` row of the same `key` whose `right_date` is the latest one strictly before
        the left row's `left_date` (on or before it when `inclusive`), null when there is
        none; `join='inner'` drops the left rows without one. `key` is a column name, or a
        pair (left column, right column). The right relation must be unique by key and date.
        The found date is `right_columns` too when wanted. -#}
    {%- set keys = [key, key] if key is string else key -%}
    select
        asof_left.*
        {%- for c in right_columns %},
        asof_right.{{ c }}
        {%- endfor %}
    from {{ left }} as asof_left
    {{ adapter.dispatch('asof_join_clause')(right, keys[0], keys[1], left_date, right_date, inclusive, join) }}
{%- endmacro %}

{% macro duckdb__asof_join_clause(right, left_key, right_key, left_date, right_date, inclusive, join) -%}
    asof {{ join }} join {{ right }} as asof_right
        on
            asof_left.{{ left_key }} = asof_right.{{ right_key }}
            and asof_left.{{ left_date }} {{ '>=' if inclusive else '>' }} asof_right.{{ right_date }}
{%- endmacro %}

{% macro spark__asof_join_clause(right, left_key, right_key, left_date, right_date, inclusive, join) -%}
    {#- no ASOF join: each right row covers the days from its date up to the next one's, and
        a left row takes the one interval its date falls in (an equi-join on the key, the
        interval as a filter) -#}
    {{ join }} join (
        select
            *,
            lead({{ right_date }}) over (partition by {{ right_key }} order by {{ right_date }}) as asof_next_date
        from {{ right }}
    ) as asof_right
        on
            asof_left.{{ left_key }} = asof_right.{{ right_key }}
            {%- if inclusive %}
            and asof_left.{{ left_date }} >= asof_right.{{ right_date }}
            and (asof_right.asof_next_date is null or asof_left.{{ left_date }} < asof_right.asof_next_date)
            {%- else %}
            and asof_left.{{ left_date }} > asof_right.{{ right_date }}
            and (asof_right.asof_next_date is null or asof_left.{{ left_date }} <= asof_right.asof_next_date)
            {%- endif %}
{%- endmacro %}
