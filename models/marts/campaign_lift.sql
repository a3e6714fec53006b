-- Holdout lift for BI: per analysis, metric, treatment arm and campaign, the lift measured
-- against the randomised control (no pooling) and after partial pooling across campaigns,
-- plus the mean across campaigns. A lift is `positive` or `negative` when the partially
-- pooled credible interval excludes 0 and the campaign's sample ratio check passed; the
-- incremental totals scale the pooled lift by the treated units.
with

lift as (
    select * from {{ ref('stg_ml__campaign_lift') }}
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
        p_value_holm,
        pooled_mean,
        pooled_lower,
        pooled_upper,
        prob_positive,
        new_group_lower,
        new_group_upper,
        tau_mean,
        srm_ok,
        analysed_at,
        pooled_mean * n_treated as incremental_total,
        pooled_lower * n_treated as incremental_total_lower,
        pooled_upper * n_treated as incremental_total_upper,
        case
            when not srm_ok then 'sample ratio mismatch: not trusted'
            when pooled_lower > 0 then 'positive'
            when pooled_upper < 0 then 'negative'
            else 'not distinguishable from 0'
        end as decision
    from lift
)

select * from final
