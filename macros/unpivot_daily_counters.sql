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
        {{ adapter.dispatch('unpivot_counter_columns')(relation) }}
    ) as unpivoted
{%- endmacro %}


{% macro duckdb__unpivot_counter_columns(relation) -%}
    unpivot (select * from {{ relation }})
    on columns('^(count|nunique)_')
    into name metric_column value metric_value
{%- endmacro %}

{% macro spark__unpivot_counter_columns(relation) -%}
    {#- Spark's UNPIVOT wants the columns listed: each row becomes a map of its non-null
        columns instead (as text, whatever a Parquet file typed them), exploded, and the
        counter columns kept -#}
    select
        filename,
        date,
        bulk_campaign_id,
        metric_column,
        metric_value
    from (
        select
            filename,
            date,
            bulk_campaign_id,
            explode(from_json(to_json(struct(*)), 'map<string, string>')) as (metric_column, metric_value)
        from {{ relation }}
    ) as exploded
    where metric_column rlike '^(count|nunique)_' and metric_value is not null
{%- endmacro %}
