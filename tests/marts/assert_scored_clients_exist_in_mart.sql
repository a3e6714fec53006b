-- Every scored client exists in customer_features at the cutoff it was scored for.
with

scores as (
    select * from {{ ref('stg_ml__customer_scores') }}
),

features as (
    select * from {{ ref('customer_features') }}
)

select
    scores.run_id,
    scores.client_id,
    scores.as_of_date
from scores
left join features
    on scores.client_id = features.client_id and scores.as_of_date = features.as_of_date
where features.client_id is null
