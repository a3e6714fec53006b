-- One row per client: did the client buy in the 90 days after the raw data ends?
with

source as (
    select * from {{ source('apparel', 'targets') }}
),

final as (
    select
        {{ checked_cast('client_id', 'bigint', 'a client id that fits a 64-bit integer') }} as client_id,
        case
            when cast(target as varchar) in ('0', '1') then cast(target as integer)
            else error(
                'raw file ' || filename || ': column target has value '''
                || coalesce(cast(target as varchar), 'NULL') || ''' which is not 0 or 1'
            )
        end as target,
        filename as source_file
    from source
)

select * from final
