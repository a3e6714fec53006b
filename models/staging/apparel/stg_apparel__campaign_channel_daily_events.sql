-- The wide daily campaign-by-channel table in long form: one row per (day, campaign, event,
-- channel). Column names are <measure>_<event>_<channel>; the channel is matched against the
-- channels seed from the end of the name, so events with underscores (hard_bounce) parse.
with

source as (
    select * from {{ source('apparel', 'campaign_channel_daily_events') }}
),

event_taxonomy as (
    select * from {{ ref('event_taxonomy') }}
),

channels as (
    select * from {{ ref('channels') }}
),

unpivoted as (
    {{ unpivot_daily_counters('source') }}
),

split as (
    select
        unpivoted.*,
        channels.channel as matched_channel,
        case
            when channels.channel is not null
                then left(unpivoted.counter_name, length(unpivoted.counter_name) - length(channels.channel) - 1)
        end as event_name
    from unpivoted
    left join channels
        on right(unpivoted.counter_name, length(channels.channel) + 1) = '_' || channels.channel
),

checked as (
    select
        split.*,
        split.matched_channel as channel,
        case
            when split.matched_channel is null
                then {{ raise_error() }}(
                    'raw file ' || split.source_file || ': column ' || split.metric_column
                    || ' does not end with a channel from the channels seed'
                )
            when event_taxonomy.event is null
                then {{ raise_error() }}(
                    'raw file ' || split.source_file || ': column ' || split.metric_column
                    || ' names event ''' || split.event_name
                    || ''' which is not in the event_taxonomy seed'
                )
            else event_taxonomy.event
        end as event
    from split
    left join event_taxonomy on split.event_name = event_taxonomy.event
),

final as (
    select
        event_date,
        bulk_campaign_id,
        event,
        channel,
        sum(counter_value) filter (where measure = 'count') as event_count,
        sum(counter_value) filter (where measure = 'nunique') as client_count
    from checked
    group by event_date, bulk_campaign_id, event, channel
    having coalesce(sum(counter_value), 0) > 0
)

select
    event_date,
    bulk_campaign_id,
    event,
    channel,
    cast(coalesce(event_count, 0) as bigint) as event_count,
    cast(coalesce(client_count, 0) as bigint) as client_count
from final
