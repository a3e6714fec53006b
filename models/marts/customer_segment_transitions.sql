-- How clients move between RFM segments from one cutoff to the next: one row per pair of
-- consecutive cutoffs x segment at the earlier cutoff x segment at the later one. Clients
-- first seen at the later cutoff come from `not_present`.
with

segments as (
    select * from {{ ref('customer_segments') }}
),

distinct_cutoffs as (
    select distinct as_of_date from segments
),

cutoffs as (
    select
        as_of_date as to_as_of,
        lag(as_of_date) over (order by as_of_date) as from_as_of
    from distinct_cutoffs
),

moves as (
    select
        cutoffs.from_as_of,
        cutoffs.to_as_of,
        later.segment as to_segment,
        coalesce(earlier.segment, 'not_present') as from_segment
    from cutoffs
    inner join segments as later on cutoffs.to_as_of = later.as_of_date
    left join segments as earlier
        on cutoffs.from_as_of = earlier.as_of_date and later.client_id = earlier.client_id
    where cutoffs.from_as_of is not null
),

counted as (
    select
        from_as_of,
        to_as_of,
        from_segment,
        to_segment,
        count(*) as n_clients
    from moves
    group by from_as_of, to_as_of, from_segment, to_segment
),

final as (
    select
        from_as_of,
        to_as_of,
        from_segment,
        to_segment,
        n_clients,
        n_clients / sum(n_clients) over (partition by from_as_of, from_segment) as share_of_from_segment,
        from_segment = to_segment as is_same_segment
    from counted
)

select * from final
