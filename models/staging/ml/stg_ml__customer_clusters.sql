with

source as (
    select * from {{ source('ml', 'customer_clusters') }}
),

final as (
    select
        run_id,
        client_id,
        as_of_date,
        cluster,
        distance
    from source
)

select * from final
