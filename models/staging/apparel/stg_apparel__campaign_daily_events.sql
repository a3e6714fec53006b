-- The wide daily campaign table in long form: one row per (day, campaign, event) with the
-- event count and the number of distinct clients. Counters absent from the file are zero
-- and produce no row; rows where both counters are zero are dropped.
with

source as (
    select * from {{ source('apparel', 'campaign_daily_events') }}
),

event_taxonomy as (
    select * from {{ ref('event_taxonomy') }}
),

unpivoted as (
    {{ unpivot_daily_counters('source') }}
),

checked as (
    select
        unpivoted.*,
        coalesce(event_taxonomy.event, {{ raise_error() }}(
            'raw file ' || unpivoted.source_file || ': column ' || unpivoted.metric_column
            || ' names event ''' || unpivoted.counter_name
            || ''' which is not in the event_taxonomy seed'
        )) as event
    from unpivoted
    left join event_taxonomy on unpivoted.counter_name = event_taxonomy.event
),

final as (
    select
        event_date,
        bulk_campaign_id,
        event,
        sum(counter_value) filter (where measure = 'count') as event_count,
        sum(counter_value) filter (where measure = 'nunique') as client_count
    from checked
    group by event_date, bulk_campaign_id, event
    having coalesce(sum(counter_value), 0) > 0
)

select
    event_date,
    bulk_campaign_id,
    event,
    cast(coalesce(event_count, 0) as bigint) as event_count,
    cast(coalesce(client_count, 0) as bigint) as client_count
from final
