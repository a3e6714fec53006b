-- One row per distinct message event. Exact duplicate rows in a file (the same event of
-- the same message at the same second) are removed; events and channels are lower-cased
-- and must be listed in the event_taxonomy and channels seeds.
--
-- Incremental by file: the source reads apparel-messages<suffix>*.<ext>, so a daily file
-- (e.g. apparel-messages-2024-02-18.csv) dropped next to the history is parsed, checked and
-- appended on the next build while rows already staged are left alone. A file is loaded
-- once, by file name; to reload a changed file, build with --full-refresh.
{{ config(materialized='incremental', on_schema_change='fail') }}

{%- set loaded_paths = [] %}
{%- set loaded_names = [] %}
{%- if execute and is_incremental() %}
    {%- set loaded = run_query(
        'select distinct source_file, parse_filename(source_file) from ' ~ this ~ ' order by 1'
    ) %}
    {%- for row in loaded.rows %}
        {%- do loaded_paths.append(row[0]) %}
        {%- do loaded_names.append(row[1]) %}
    {%- endfor %}
{%- endif %}

with

source as (
    select * from {{ source('apparel', 'messages') }}
    {%- if loaded_paths %}
        -- constant path list: DuckDB skips those files without reading them
        where
            filename not in ({% for p in loaded_paths %}'{{ p }}'{{ ', ' if not loop.last }}{% endfor %})
            and parse_filename(filename) not in (
                {% for n in loaded_names %}'{{ n }}'{{ ', ' if not loop.last }}{% endfor %}
            )
    {%- endif %}
),

event_taxonomy as (
    select * from {{ ref('event_taxonomy') }}
),

channels as (
    select * from {{ ref('channels') }}
),

deduplicated as (
    select distinct
        bulk_campaign_id,
        client_id,
        message_id,
        event,
        channel,
        date,
        created_at,
        filename
    from source
),

typed as (
    select
        filename as source_file,
        {{ checked_cast('bulk_campaign_id', 'bigint', 'a whole-number campaign id') }} as bulk_campaign_id,
        {{ checked_cast('client_id', 'bigint', 'a client id that fits a 64-bit integer') }} as client_id,
        cast(message_id as varchar) as message_id,
        lower(trim(cast(event as varchar))) as event_raw,
        lower(trim(cast(channel as varchar))) as channel_raw,
        {{ checked_date('date') }} as event_date,
        {{ checked_date('created_at', '%Y-%m-%d %H:%M:%S', 'timestamp') }} as created_at
    from deduplicated
),

checked as (
    select
        typed.*,
        coalesce(event_taxonomy.event, error(
            'raw file ' || typed.source_file || ': column event has value '''
            || coalesce(typed.event_raw, 'NULL')
            || ''' which is not in the event_taxonomy seed (add it there if it is a new event type)'
        )) as event,
        coalesce(channels.channel, error(
            'raw file ' || typed.source_file || ': column channel has value '''
            || coalesce(typed.channel_raw, 'NULL')
            || ''' which is not in the channels seed (add it there if it is a new channel)'
        )) as channel
    from typed
    left join event_taxonomy on typed.event_raw = event_taxonomy.event
    left join channels on typed.channel_raw = channels.channel
),

final as (
    select
        client_id,
        bulk_campaign_id,
        message_id,
        event,
        channel,
        {{ checked_value('event_date', 'event_date <= current_date', 'date', 'a date up to today') }} as event_date,
        created_at,
        source_file
    from checked
)

select * from final
