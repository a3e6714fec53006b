with

source as (
    select * from {{ source('ml', 'uplift_scores') }}
),

final as (
    select
        run_id,
        spec_name,
        model,
        unit_id,
        group_value,
        arm,
        control_arm,
        assigned_arm,
        split,
        outcome,
        uplift_mean,
        uplift_lower,
        uplift_upper,
        prob_positive,
        p_control,
        p_treated,
        created_at
    from source
)

select * from final
