-- k-means segments for BI: one row per segmentation run x cluster with its size, the
-- 90-day purchase rate of its clients where customer_labels has their label at the clustered
-- cutoff, the mean purchase score of the latest scoring run at that cutoff, the mean of every
-- clustered feature (a JSON object) and the three features that set the cluster apart most
-- (standardised centre, + above / - below average); and what the cluster is worth: the mean
-- and total customer lifetime value of its members at the clustered cutoff (customer_value).
with

runs as (
    select * from {{ ref('stg_ml__segment_runs') }}
),

clusters as (
    select * from {{ ref('stg_ml__customer_clusters') }}
),

profiles as (
    select * from {{ ref('stg_ml__cluster_profiles') }}
),

labels as (
    select * from {{ ref('customer_labels') }}
),

scores as (
    select * from {{ ref('stg_ml__customer_scores') }}
),

model_runs as (
    select * from {{ ref('stg_ml__model_runs') }}
),

customer_value as (
    select * from {{ ref('customer_value') }}
    where is_latest_at_cutoff
),

latest_scores as (
    select
        scores.client_id,
        scores.as_of_date,
        scores.p_mean
    from scores
    inner join model_runs on scores.run_id = model_runs.run_id
    where model_runs.is_latest_run
),

members as (
    select
        clusters.run_id,
        clusters.cluster,
        count(*) as n_clients,
        count(labels.purchased_next_90d) as n_labelled,
        avg(cast(labels.purchased_next_90d as integer)) as purchase_rate,
        count(latest_scores.p_mean) as n_scored,
        avg(latest_scores.p_mean) as mean_score,
        avg(clusters.distance) as mean_distance,
        count(customer_value.clv) as n_valued,
        avg(customer_value.clv) as mean_clv,
        sum(customer_value.clv) as total_clv,
        avg(customer_value.p_alive) as mean_p_alive
    from clusters
    left join labels
        on clusters.client_id = cast(labels.client_id as string) and clusters.as_of_date = labels.as_of_date
    left join latest_scores
        on clusters.client_id = latest_scores.client_id and clusters.as_of_date = latest_scores.as_of_date
    left join customer_value
        on clusters.client_id = customer_value.client_id and clusters.as_of_date = customer_value.as_of_date
    group by clusters.run_id, clusters.cluster
),

ranked_features as (
    select
        run_id,
        cluster,
        feature,
        z_centre,
        row_number() over (partition by run_id, cluster order by abs(z_centre) desc, feature) as feature_rank
    from profiles
),

feature_means as (
    select
        run_id,
        cluster,
        {{ json_object_agg('feature', 'round(mean_value, 4)') }} as feature_means
    from profiles
    group by run_id, cluster
),

top_features as (
    select
        run_id,
        cluster,
        {{ ordered_string_agg(
            "feature || case when z_centre >= 0 then ' +' else ' -' end || printf('%.1f', abs(z_centre))",
            'feature_rank', ', '
        ) }} as top_features
    from ranked_features
    where feature_rank <= 3
    group by run_id, cluster
),

final as (
    select
        runs.run_id,
        runs.spec_name,
        runs.is_latest_run,
        runs.relation,
        runs.as_of_date,
        runs.k,
        members.cluster,
        members.n_clients,
        top_features.top_features,
        feature_means.feature_means,
        members.n_labelled,
        members.purchase_rate,
        members.n_scored,
        members.mean_score,
        members.mean_distance,
        members.n_valued,
        members.mean_clv,
        members.total_clv,
        members.mean_p_alive,
        members.n_clients / runs.n_rows as share_of_clients
    from members
    inner join runs on members.run_id = runs.run_id
    left join top_features on members.run_id = top_features.run_id and members.cluster = top_features.cluster
    left join feature_means on members.run_id = feature_means.run_id and members.cluster = feature_means.cluster
)

select * from final
