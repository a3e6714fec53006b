with

source as (
    select * from {{ source('ml', 'customer_scores') }}
),

final as (
    select
        run_id,
        cast(client_id as string) as client_id,
        as_of_date,
        p_mean,
        p_sd,
        p_q05,
        p_q95,
        rank,
        decile,
        used_population_level,
        p_q95 - p_q05 as p_interval_width
    from source
)

select * from final
