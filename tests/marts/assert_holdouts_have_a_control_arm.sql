-- Every holdout experiment needs its control arm (var holdout_control_arm) and at least one
-- other arm: without them there is nothing to compare.
with

outcomes as (
    select * from {{ ref('campaign_holdout_outcomes') }}
)

select
    bulk_campaign_id,
    count(*) filter (where is_control) as control_clients,
    count(distinct variant) as arms
from outcomes
group by bulk_campaign_id
having count(*) filter (where is_control) = 0 or count(distinct variant) < 2
