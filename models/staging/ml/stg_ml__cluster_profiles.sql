with

source as (
    select * from {{ source('ml', 'cluster_profiles') }}
),

final as (
    select
        run_id,
        cluster,
        feature,
        n_clients,
        share,
        mean_value,
        overall_mean,
        z_centre
    from source
)

select * from final
