-- Every client scored by a run on customer_features exists there at the cutoff it was scored for.
with

runs as (
    select run_id from {{ ref('stg_ml__model_runs') }}
    where relation = '{{ ref("customer_features").schema }}.{{ ref("customer_features").identifier }}'
),

scores as (
    select * from {{ ref('stg_ml__customer_scores') }}
    where run_id in (select runs.run_id from runs)
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
    on scores.client_id = cast(features.client_id as string) and scores.as_of_date = features.as_of_date
where features.client_id is null
