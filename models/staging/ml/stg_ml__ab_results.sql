with

source as (
    select * from {{ source('ml', 'ab_results') }}
),

final as (
    select
        experiment,
        metric,
        metric_kind,
        arm,
        control_arm,
        is_control,
        n_units,
        value,
        value_lower,
        value_upper,
        diff,
        diff_lower,
        diff_upper,
        lift,
        lift_lower,
        lift_upper,
        test,
        p_value,
        p_value_holm,
        omnibus_p_value,
        prob_best,
        expected_loss,
        prob_beats_control,
        alpha,
        srm_p_value,
        srm_ok,
        source,
        analysed_at
    from source
)

select * from final
