-- One row per distinct message event. Exact duplicate rows in a file (the same event of
-- the same message at the same second) are removed; events and channels are lower-cased
-- and must be listed in the event_taxonomy and channels seeds.
--
-- Incremental by file: the source reads apparel-messages<suffix>*.<ext>, so a daily file
-- (e.g. apparel-messages-2024-02-18.csv) dropped next to the history is parsed, checked and
-- appended on the next build; files already staged are not opened again. A file whose size
-- or modification time changed is re-read and its rows replaced (delete+insert by file);
-- rows of a file that no longer matches (moved, renamed, deleted) are removed first.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='source_file',
    on_schema_change='fail',
    pre_hook="{{ delete_unmatched_raw_files('apparel', 'messages') }}"
) }}
{%- set batch = raw_file_batch('apparel', 'messages') %}

with

source as (
    -- constant path list: DuckDB skips the other files without reading them
    select * from {{ source('apparel', 'messages') }}
    where filename in (
        {%- for p in batch.pending %}'{{ p }}'{{ ', ' if not loop.last }}{% endfor -%}
        {{- "null" if not batch.pending -}}
    )
),

fingerprints as (
    select
        col0 as fingerprinted_file,
        col1 as source_fingerprint
    from (
        values
        {% for path, fingerprint in batch.files -%}
            ('{{ path }}', '{{ fingerprint }}'){{ ',' if not loop.last }}
        {% endfor -%}
    )
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
        source_file,
        source_fingerprint
    from checked
    left join fingerprints on checked.source_file = fingerprints.fingerprinted_file
)

select * from final
