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
        analysed_at,
        diff_se,
        covariates,
        adj_diff,
        adj_diff_se,
        adj_diff_lower,
        adj_diff_upper,
        adj_p_value,
        adj_p_value_holm,
        variance_reduction,
        seq_p_value,
        seq_diff_lower,
        seq_diff_upper,
        seq_looks,
        seq_tau,
        coalesce(metric_role, 'primary') as metric_role,
        coalesce(min_effect, 0) as min_effect,
        coalesce(higher_is_better, true) as higher_is_better
    from source
)

select * from final
