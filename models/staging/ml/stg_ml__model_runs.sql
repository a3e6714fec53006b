with

source as (
    select * from {{ source('ml', 'model_runs') }}
),

final as (
    select
        run_id,
        spec_name,
        spec_path,
        spec_text,
        formula,
        family,
        inference_method,
        sampler,
        relation,
        train_as_of_min,
        train_as_of_max,
        scored_as_of,
        n_train_rows,
        n_train_positives,
        n_scored,
        n_unseen_group_rows,
        max_r_hat,
        min_ess_bulk,
        divergences,
        diagnostics_ok,
        diagnostics_message,
        status,
        fit_seconds,
        score_seconds,
        fitted_at,
        scored_at,
        row_number() over (order by scored_at desc, run_id asc) = 1 as is_latest_run
    from source
)

select * from final
