-- Ship, stop or keep running: one decision per experiment, treatment arm and metric from
-- `targeting abtest`, and one for the arm over all its metrics. The documented rule:
--
-- * the interval decided on is the sequential one when the run was sequential (valid at
--   any look), else the regression-adjusted one when it had covariates, else the fixed one;
--   it is turned so that "up" is good (a lower-is-better metric's interval is negated);
-- * a sample ratio mismatch stops every metric: the randomisation cannot be trusted;
-- * a primary metric ships when its interval is above 0 and the effect reaches min_effect;
--   it stops when even the interval's upper end falls short of min_effect (worse, or too
--   small to matter); otherwise it keeps running;
-- * a guardrail stops (harmed) when its whole interval is below -min_effect (the loss it
--   tolerates); it ships when its lower end is at least -min_effect (shown not harmed);
--   otherwise it keeps running;
-- * the arm stops when the sample ratio fails, any guardrail is harmed or every primary
--   metric stops; it ships when every primary metric ships and no guardrail is harmed;
--   otherwise it keeps running.
with

results as (
    select * from {{ ref('stg_ml__ab_results') }}
),

intervals as (
    select
        experiment,
        arm,
        control_arm,
        metric,
        metric_kind,
        metric_role,
        higher_is_better,
        min_effect,
        srm_ok,
        analysed_at,
        coalesce(adj_diff, diff) as effect,
        case
            when seq_diff_lower is not null then 'sequential'
            when adj_diff_lower is not null then 'adjusted'
            else 'fixed'
        end as interval_kind,
        coalesce(seq_diff_lower, adj_diff_lower, diff_lower) as effect_lower,
        coalesce(seq_diff_upper, adj_diff_upper, diff_upper) as effect_upper,
        case when higher_is_better then 1 else -1 end as direction
    from results
    where not is_control
),

oriented as (
    select
        *,
        direction * effect as good_effect,
        case when direction = 1 then effect_lower else -effect_upper end as good_lower,
        case when direction = 1 then effect_upper else -effect_lower end as good_upper
    from intervals
),

ruled as (
    -- which branch of the rule applies: each is written once, then named and decided below
    select
        *,
        case
            when not srm_ok then 'srm'
            when good_lower is null or good_upper is null then 'no_interval'
            when metric_role = 'guardrail' and good_upper < -min_effect then 'harmed'
            when metric_role = 'guardrail' and good_lower >= -min_effect then 'not_harmed'
            when metric_role = 'guardrail' then 'guardrail_open'
            when good_lower > 0 and good_effect >= min_effect then 'better'
            when good_upper < min_effect then 'short'
            else 'open'
        end as rule_branch
    from oriented
),

metric_decisions as (
    select
        *,
        case
            when rule_branch in ('srm', 'harmed', 'short') then 'stop'
            when rule_branch in ('not_harmed', 'better') then 'ship'
            else 'keep running'
        end as metric_decision,
        case rule_branch
            when 'srm' then 'sample ratio mismatch: randomisation or logging is broken'
            when 'no_interval' then 'no interval for this metric'
            when 'harmed' then 'guardrail harmed'
            when 'not_harmed' then 'guardrail not harmed'
            when 'guardrail_open' then 'guardrail not yet shown unharmed'
            when 'better' then 'better, by at least the minimum effect'
            when 'short' then 'worse, or too small to reach the minimum effect'
            else 'not yet conclusive'
        end as reason
    from ruled
),

arm_rollup as (
    select
        experiment,
        arm,
        min(case when srm_ok then 1 else 0 end) as srm_passed,
        sum(case when metric_role = 'guardrail' and metric_decision = 'stop' then 1 else 0 end)
            as guardrails_harmed,
        sum(case when metric_role = 'primary' then 1 else 0 end) as primaries,
        sum(case when metric_role = 'primary' and metric_decision = 'ship' then 1 else 0 end)
            as primaries_shipping,
        sum(case when metric_role = 'primary' and metric_decision = 'stop' then 1 else 0 end)
            as primaries_stopping
    from metric_decisions
    group by experiment, arm
),

final as (
    select
        metric_decisions.experiment,
        metric_decisions.arm,
        metric_decisions.control_arm,
        metric_decisions.metric,
        metric_decisions.metric_kind,
        metric_decisions.metric_role,
        metric_decisions.higher_is_better,
        metric_decisions.min_effect,
        metric_decisions.effect,
        metric_decisions.effect_lower,
        metric_decisions.effect_upper,
        metric_decisions.interval_kind,
        metric_decisions.srm_ok,
        metric_decisions.metric_decision,
        metric_decisions.reason,
        metric_decisions.analysed_at,
        case
            when arm_rollup.srm_passed = 0 then 'stop'
            when arm_rollup.guardrails_harmed > 0 then 'stop'
            when arm_rollup.primaries_stopping = arm_rollup.primaries then 'stop'
            when arm_rollup.primaries_shipping = arm_rollup.primaries then 'ship'
            else 'keep running'
        end as arm_decision
    from metric_decisions
    inner join arm_rollup
        on
            metric_decisions.experiment = arm_rollup.experiment
            and metric_decisions.arm = arm_rollup.arm
)

select * from final
