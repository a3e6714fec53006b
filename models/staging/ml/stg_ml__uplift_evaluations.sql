with

source as (
    select * from {{ source('ml', 'uplift_evaluations') }}
),

final as (
    select
        run_id,
        spec_name,
        model,
        arm,
        ranking,
        metric,
        value,
        lower,
        upper,
        n_units,
        diagnostics,
        created_at
    from source
)

select * from final
