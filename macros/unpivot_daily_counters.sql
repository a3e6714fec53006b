{% macro unpivot_daily_counters(relation) -%}
    {#- Unpivot a wide daily campaign table (date, bulk_campaign_id, count_<x>, nunique_<x>
        in any order) into (source_file, event_date, bulk_campaign_id, measure, counter_name,
        metric_column, counter_value). Columns are picked by name, so order does not matter. -#}
    select
        filename as source_file,
        {{ checked_date('date') }} as event_date,
        {{ checked_cast('bulk_campaign_id', 'bigint', 'a whole-number campaign id', rule='id') }} as bulk_campaign_id,
        regexp_extract(metric_column, '^(count|nunique)_', 1) as measure,
        regexp_replace(metric_column, '^(count|nunique)_', '') as counter_name,
        metric_column,
        {{ checked_cast('metric_value', 'bigint', 'a whole-number count', column_label='metric_column', required=false) }} as counter_value
    from (
        unpivot (select * from {{ relation }})
        on columns('^(count|nunique)_')
        into name metric_column value metric_value
    )
{%- endmacro %}
