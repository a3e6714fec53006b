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

feature_days as (
    -- the ASOF join sorts its right side: keys only, of the clients in a holdout (sorting
    -- every feature column of every cutoff cost three times as much); the features are then
    -- fetched by a hash join on the found cutoff
    select
        client_id,
        as_of_date
    from features
    where client_id in (select outcomes.client_id from outcomes)
),

found as (
    {{ asof_join(
        'outcomes', 'feature_days', 'client_id', 'assigned_on', 'as_of_date',
        ['as_of_date as features_as_of'], inclusive=true, join='inner'
    ) }}
),

featured as (
    select
        {{ star_except(ref('campaign_holdout_outcomes'), [], 'found') }},
        {{ star_except(ref('customer_features'), ['client_id', 'as_of_date'], 'features') }},
        found.features_as_of
    from found
    inner join features
        on found.client_id = features.client_id and found.features_as_of = features.as_of_date
)

select * from featured
