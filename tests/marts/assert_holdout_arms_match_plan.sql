-- Sample ratio mismatch: per holdout experiment, a chi-square test of the arm counts against
-- the planned shares (var holdout_planned_shares). Fails, naming the experiment, when the
-- statistic is beyond the p = 0.001 critical value (randomisation or logging is broken) or
-- when an arm is not in the plan. An empty plan ({}) skips the check.
{%- set plan = var('holdout_planned_shares') or {} %}
{%- for arm, share in plan.items() if not (share | float > 0) %}
    {{ exceptions.raise_compiler_error('var holdout_planned_shares: the share of arm ' ~ arm ~ ' is ' ~ share ~ '; expected a positive number') }}
{%- endfor %}
-- chi-square critical values at p = 0.001 for 1..9 degrees of freedom
{%- set critical = [10.828, 13.816, 16.266, 18.467, 20.515, 22.458, 24.322, 26.124, 27.877] %}
with

assignments as (
    select * from {{ ref('stg_apparel__campaign_assignments') }}
),

planned as (
    {%- if plan %}
        {%- for arm, share in plan.items() %}
            select
                {{ sql_string(arm | lower) }} as variant,
                {{ share | float }} as planned_share
            {{ 'union all' if not loop.last }}
        {%- endfor %}
    {%- else %}
        select
            cast(null as string) as variant,
            cast(null as double) as planned_share
        where false
    {%- endif %}
),

shares as (
    select
        variant,
        planned_share / sum(planned_share) over () as planned_share
    from planned
),

counted as (
    select
        bulk_campaign_id,
        variant,
        count(*) as clients
    from assignments
    group by bulk_campaign_id, variant
),

experiments as (
    select
        bulk_campaign_id,
        sum(clients) as clients
    from counted
    group by bulk_campaign_id
),

expected as (
    select
        experiments.bulk_campaign_id,
        shares.variant,
        experiments.clients * shares.planned_share as expected_clients,
        coalesce(counted.clients, 0) as observed_clients
    from experiments
    cross join shares
    left join counted
        on
            experiments.bulk_campaign_id = counted.bulk_campaign_id
            and shares.variant = counted.variant
),

tested as (
    select
        bulk_campaign_id,
        sum(power(observed_clients - expected_clients, 2) / expected_clients) as chi_square,
        count(*) - 1 as degrees_of_freedom
    from expected
    group by bulk_campaign_id
),

unplanned as (
    select
        counted.bulk_campaign_id,
        string_agg(counted.variant, ', ') as unplanned_arms
    from counted
    left join shares on counted.variant = shares.variant
    where shares.variant is null
    group by counted.bulk_campaign_id
),

final as (
    select
        tested.bulk_campaign_id,
        tested.chi_square,
        tested.degrees_of_freedom,
        unplanned.unplanned_arms,
        case least(greatest(tested.degrees_of_freedom, 1), 9)
            {%- for value in critical %}
                when {{ loop.index }} then {{ value }}
            {%- endfor %}
        end as critical_value
    from tested
    left join unplanned on tested.bulk_campaign_id = unplanned.bulk_campaign_id
)

select * from final
where
    {%- if plan %}
        chi_square > critical_value or unplanned_arms is not null
    {%- else %}
        false
    {%- endif %}
