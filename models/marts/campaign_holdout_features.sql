-- One row per client and holdout experiment with the client's features strictly before the
-- assignment: the customer_features row of the latest cutoff on or before the assignment day
-- (every feature of a cutoff uses only events strictly before it), beside the arm and the
-- outcome in the window after the assignment. The training table of `targeting uplift`.
-- A client without a feature row by then (no event before the cutoff) is left out.
with

outcomes as (
    select * from {{ ref('campaign_holdout_outcomes') }}
),

features as (
    select * from {{ ref('customer_features') }}
),

featured as (
    {{ asof_join(
        'outcomes', 'features', 'client_id', 'assigned_on', 'as_of_date',
        (star_except(ref('customer_features'), ['client_id', 'as_of_date']).split(',') | map('trim') | list)
        + ['as_of_date as features_as_of'],
        inclusive=true, join='inner'
    ) }}
)

select * from featured  -- noqa: AM04
