-- Exactly one RFM segment row per client and cutoff of customer_features, and the
-- transitions of every later cutoff add up to its clients. Returns the offending keys.
with

features as (
    select * from {{ ref('customer_features') }}
),

segments as (
    select * from {{ ref('customer_segments') }}
),

transitions as (
    select * from {{ ref('customer_segment_transitions') }}
),

segment_counts as (
    select
        client_id,
        as_of_date,
        count(*) as n_rows
    from segments
    group by client_id, as_of_date
),

missing_or_repeated as (
    select
        'segment rows' as check_name,
        features.as_of_date,
        features.client_id,
        coalesce(segment_counts.n_rows, 0) as n_rows
    from features
    left join segment_counts
        on features.client_id = segment_counts.client_id and features.as_of_date = segment_counts.as_of_date
    where coalesce(segment_counts.n_rows, 0) <> 1
),

extra as (
    select
        'segment without a feature row' as check_name,
        segments.as_of_date,
        segments.client_id,
        1 as n_rows
    from segments
    left join features
        on segments.client_id = features.client_id and segments.as_of_date = features.as_of_date
    where features.client_id is null
),

transition_totals as (
    select
        to_as_of,
        sum(n_clients) as n_clients
    from transitions
    group by to_as_of
),

cutoff_totals as (
    select
        as_of_date,
        count(*) as n_clients
    from segments
    group by as_of_date
),

unbalanced as (
    select
        'transitions do not add up' as check_name,
        cutoff_totals.as_of_date,
        cast(null as bigint) as client_id,
        cutoff_totals.n_clients as n_rows
    from cutoff_totals
    inner join transition_totals on cutoff_totals.as_of_date = transition_totals.to_as_of
    where cutoff_totals.n_clients <> transition_totals.n_clients
)

select * from missing_or_repeated
union all
select * from extra
union all
select * from unbalanced
