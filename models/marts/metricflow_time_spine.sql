-- MetricFlow's daily time spine (dbt's semantic layer, models/semantic): one row per day
-- from the earliest year a raw date may hold (var value_rules.min_year) through 2099. The
-- semantic layer joins it for metrics over time; nothing else reads it.
{%- set first_year = var('value_rules')['min_year'] | int %}
with

days as (
    {{ daily_dates(
        "cast('" ~ '%04d' % first_year ~ "-01-01' as date)",
        "cast('2099-12-31' as date)",
        'date_day',
    ) }}
)

select date_day from days
