with

source as (
    select * from {{ source('ml', 'campaign_lift') }}
),

final as (
    select
        analysis,
        grouping,
        level,
        group_value,
        metric,
        metric_kind,
        arm,
        control_arm,
        n_treated,
        n_control,
        mean_treated,
        mean_control,
        diff,
        diff_lower,
        diff_upper,
        test,
        p_value,
        p_value_holm,
        pooled_mean,
        pooled_lower,
        pooled_upper,
        prob_positive,
        new_group_lower,
        new_group_upper,
        tau_mean,
        tau_lower,
        tau_upper,
        prior_scale,
        srm_p_value,
        srm_ok,
        alpha,
        source,
        analysed_at,
        covariates,
        adj_diff,
        adj_diff_se,
        adj_diff_lower,
        adj_diff_upper,
        adj_p_value,
        variance_reduction
    from source
)

select * from final
