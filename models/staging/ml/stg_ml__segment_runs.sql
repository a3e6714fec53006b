with

source as (
    select * from {{ source('ml', 'segment_runs') }}
),

final as (
    select
        run_id,
        spec_name,
        relation,
        as_of_date,
        n_rows,
        features,
        log_features,
        k,
        k_method,
        best_silhouette_k,
        elbow_k,
        silhouette,
        inertia,
        seed,
        created_at,
        row_number() over (partition by spec_name order by created_at desc, run_id asc) = 1 as is_latest_run
    from source
)

select * from final
