with

source as (
    select * from {{ source('ml', 'clv_runs') }}
),

final as (
    select
        run_id,
        spec_name,
        relation,
        as_of_date,
        horizon,
        method,
        n_customers,
        n_repeat_buyers,
        param_r,
        param_alpha,
        param_a,
        param_b,
        param_p,
        param_q,
        param_v,
        diagnostics,
        seconds,
        eval_as_of_date,
        eval_customers,
        eval_predicted_purchases,
        eval_actual_purchases,
        eval_decile_error,
        eval_decile_error_naive,
        eval_spearman,
        eval_diagnostics,
        created_at,
        row_number() over (partition by spec_name order by created_at desc, run_id asc) = 1 as is_latest_run
    from source
)

select * from final
