-- One row per (run, split, model): the held-out metrics side by side with the run's
-- diagnostics, and flags a reviewer checks first (below the 0.70 AUC pass mark, ECE above
-- 0.02, the Bayesian model losing to the logistic baseline on the same rows).
{%- set metrics = [
    'roc_auc', 'pr_auc', 'log_loss', 'brier', 'ece', 'lift_at_1pct', 'lift_at_5pct',
    'lift_at_10pct', 'lift_at_20pct', 'capture_at_10pct', 'positive_rate', 'mean_prediction'
] %}
with

evaluations as (
    select * from {{ ref('stg_ml__model_evaluations') }}
),

runs as (
    select * from {{ ref('stg_ml__model_runs') }}
),

wide as (
    select
        run_id,
        split,
        model,
        max(n_rows) as n_rows,
        max(n_positives) as n_positives,
        max(n_train_rows) as n_train_rows,
        max(test_as_of) as test_as_of,
        max(evaluated_at) as evaluated_at,
        {% for metric in metrics -%}
            max(value) filter (where metric = '{{ metric }}') as {{ metric }},
        {% endfor -%}
        max(lower) filter (where metric = 'roc_auc') as roc_auc_lower,
        max(upper) filter (where metric = 'roc_auc') as roc_auc_upper
    from evaluations
    group by run_id, split, model
),

logistic as (
    select
        run_id,
        split,
        roc_auc as logistic_roc_auc
    from wide
    where model = 'logistic_regression'
),

final as (
    select
        wide.*,
        runs.spec_name,
        runs.formula,
        runs.inference_method,
        runs.diagnostics_ok,
        runs.is_latest_run,
        wide.roc_auc < 0.70 as is_below_auc_pass_mark,
        wide.ece > 0.02 as is_ece_above_0_02,
        wide.model = 'bayesian' and wide.roc_auc < logistic.logistic_roc_auc as is_worse_than_logistic
    from wide
    left join runs on wide.run_id = runs.run_id
    left join logistic on wide.run_id = logistic.run_id and wide.split = logistic.split
)

select * from final
