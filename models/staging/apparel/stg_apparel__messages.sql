-- One row per distinct message event. An event (its campaign, client, message, event,
-- channel, date and second) is kept once across all files: exact duplicate rows in a file
-- are removed, and an event repeated in another file (a daily file overlapping the history,
-- or two overlapping daily files) is kept from the oldest file holding it (modification
-- time, then name); in an incremental build, events already staged from another file win.
-- Events and channels are lower-cased and must be listed in the event_taxonomy and channels
-- seeds.
--
-- Incremental by file: the source reads apparel-messages<suffix>*.<ext>, so a daily file
-- (e.g. apparel-messages-2024-02-18.csv) dropped next to the history is parsed, checked and
-- appended on the next build; files already staged are not opened again. A file whose size
-- or modification time changed is re-read and its rows replaced (delete+insert by file);
-- rows of a file that no longer matches (moved, renamed, deleted) are removed first.
-- Every row carries the load id of the run that staged it, and the clients of removed rows
-- are logged (stg_apparel__messages_removed): downstream models recompute only the clients
-- a run touched.
{{ config(
    materialized=incremental_where_supported(),
    incremental_strategy='delete+insert',
    unique_key='source_file',
    on_schema_change='fail',
    pre_hook="{{ delete_unmatched_raw_files('apparel', 'messages') }}"
) }}
{%- set batch = raw_file_batch('apparel', 'messages') %}
{{- log_removed_rows(batch, 'event_date') }}

with

source as (
    -- constant path list: DuckDB skips the other files without reading them
    select * from {{ source('apparel', 'messages') }}
    where filename in (
        {%- for p in batch.pending %}{{ sql_string(p) }}{{ ', ' if not loop.last }}{% endfor -%}
        {{- "null" if not batch.pending -}}
    )
),

fingerprints as (
    select
        listed.fingerprinted_file,
        listed.source_fingerprint
    from (
        values
        {% for path, fingerprint in batch.files -%}
            ({{ sql_string(path) }}, {{ sql_string(fingerprint) }}){{ ',' if not loop.last }}
        {% endfor -%}
    ) as listed (fingerprinted_file, source_fingerprint)
),

event_taxonomy as (
    select * from {{ ref('event_taxonomy') }}
),

channels as (
    select * from {{ ref('channels') }}
),

{% if batch.pending | length > 1 %}
    file_order as (
        -- files by modification time (the fingerprint's second field), then name
        select
            fingerprinted_file,
            row_number() over (
                order by cast(split_part(source_fingerprint, '@', 2) as bigint), fingerprinted_file
            ) as file_rank
        from fingerprints
    ),

    deduplicated as (
        -- an event in several files is kept once, from the oldest file holding it
        select
            source.bulk_campaign_id,
            source.client_id,
            source.message_id,
            source.event,
            source.channel,
            source.date,
            source.created_at,
            min_by(source.filename, file_order.file_rank) as filename
        from source
        inner join file_order on source.filename = file_order.fingerprinted_file
        group by all
    ),
{% else %}
    deduplicated as (
        -- one file: its exact duplicate rows removed (cheaper than ranking files)
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
{% endif %}

typed as (
    select
        filename as source_file,
        {{ checked_cast('bulk_campaign_id', 'bigint', 'a whole-number campaign id', rule='id') }} as bulk_campaign_id,
        {{ checked_cast(
            'client_id', 'bigint', 'a client id (whole digits) that fits a 64-bit integer', rule='id'
        ) }} as client_id,
        cast(message_id as string) as message_id,
        lower(trim(cast(event as string))) as event_raw,
        lower(trim(cast(channel as string))) as channel_raw,
        {{ checked_date('date') }} as event_date,
        {{ checked_date('created_at', '%Y-%m-%d %H:%M:%S', 'timestamp') }} as created_at
    from deduplicated
),

checked as (
    select
        typed.*,
        coalesce(event_taxonomy.event, {{ raise_error() }}(
            'raw file ' || typed.source_file || ': column event has value '''
            || coalesce(typed.event_raw, 'NULL')
            || ''' which is not in the event_taxonomy seed (add it there if it is a new event type)'
        )) as event,
        coalesce(channels.channel, {{ raise_error() }}(
            'raw file ' || typed.source_file || ': column channel has value '''
            || coalesce(typed.channel_raw, 'NULL')
            || ''' which is not in the channels seed (add it there if it is a new channel)'
        )) as channel
    from typed
    left join event_taxonomy on typed.event_raw = event_taxonomy.event
    left join channels on typed.channel_raw = channels.channel
),

{% if is_incremental() %}
    already_staged as (
        -- events staged from other files, which stay: they win over a pending file's copy
        select * from {{ this }}
        where source_file not in (
            {%- for p in batch.pending %}{{ sql_string(p) }}{{ ', ' if not loop.last }}{% endfor -%}
            {{- "null" if not batch.pending -}}
        )
        -- only the days the pending files hold can match (the rest of the history is not read)
        and event_date between (select min(pending.event_date) from checked as pending)
        and (select max(pending.event_date) from checked as pending)
    ),
{% endif %}

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
        source_fingerprint,
        {{ load_id() }} as load_id
    from checked
    left join fingerprints on checked.source_file = fingerprints.fingerprinted_file
    {% if is_incremental() -%}
        where not exists (
            select 1
            from already_staged
            where
                already_staged.bulk_campaign_id is not distinct from checked.bulk_campaign_id
                and already_staged.client_id is not distinct from checked.client_id
                and already_staged.message_id is not distinct from checked.message_id
                and already_staged.event is not distinct from checked.event
                and already_staged.channel is not distinct from checked.channel
                and already_staged.event_date is not distinct from checked.event_date
                and already_staged.created_at is not distinct from checked.created_at
        )
    {%- endif %}
)

select * from final
