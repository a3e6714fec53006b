-- The rfm_segments seed names all 25 (r_score, f_score) pairs of 1..5 scores.
with

segment_names as (
    select * from {{ ref('rfm_segments') }}
),

grid as (
    select
        r.r_score,
        f.f_score
    from range(1, 6) as r (r_score)
    cross join range(1, 6) as f (f_score)
)

select
    grid.r_score,
    grid.f_score
from grid
left join segment_names
    on grid.r_score = segment_names.r_score and grid.f_score = segment_names.f_score
where segment_names.segment is null
