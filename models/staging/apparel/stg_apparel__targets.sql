-- One row per client: did the client buy in the 90 days after the raw data ends?
-- A client listed twice fails the build, naming the client.
with

source as (
    select * from {{ source('apparel', 'targets') }}
),

typed as (
    select
        {{ checked_cast(
            'client_id', 'bigint', 'a client id (whole digits) that fits a 64-bit integer', rule='id'
        ) }} as client_id,
        case
            when cast(target as string) in ('0', '1') then cast(target as integer)
            else {{ raise_error() }}(
                'raw file ' || filename || ': column target has value '''
                || coalesce(cast(target as string), 'NULL') || ''' which is not 0 or 1'
            )
        end as target,
        filename as source_file
    from source
),

counted as (
    select
        *,
        count(*) over (partition by client_id) as n_rows
    from typed
),

final as (
    select
        {{ checked_value('client_id', 'n_rows = 1', 'client_id', 'unique (the client is listed more than once)') }}
            as client_id,
        target,
        source_file
    from counted
)

select * from final
