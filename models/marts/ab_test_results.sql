-- A/B results for BI: every experiment, metric and arm from `targeting abtest`, with the
-- decision a marketer reads first. A treatment is `better` or `worse` only when its
-- Holm-corrected p-value is below alpha and the sample ratio check passed; the
-- recommended arm of a metric is the one most likely to be best (posterior), again only
-- when the randomisation is sound.
with

results as (
    select * from {{ ref('stg_ml__ab_results') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by experiment, metric
            order by prob_best desc nulls last, arm asc
        ) as best_rank
    from results
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
        p_value,
        p_value_holm,
        prob_best,
        prob_beats_control,
        expected_loss,
        srm_ok,
        analysed_at,
        coalesce(not is_control and srm_ok and p_value_holm < alpha, false) as is_significant,
        case
            when is_control then 'control'
            when not srm_ok then 'sample ratio mismatch: not trusted'
            when p_value_holm < alpha and diff > 0 then 'better than control'
            when p_value_holm < alpha and diff < 0 then 'worse than control'
            else 'no significant difference'
        end as decision,
        coalesce(srm_ok and best_rank = 1 and prob_best is not null, false) as is_recommended
    from ranked
)

select * from final
