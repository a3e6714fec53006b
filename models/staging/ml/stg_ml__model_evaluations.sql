with

source as (
    select * from {{ source('ml', 'model_evaluations') }}
),

final as (
    select
        run_id,
        split,
        model,
        metric,
        value,
        lower,
        upper,
        n_rows,
        n_positives,
        n_train_rows,
        test_as_of,
        note,
        evaluated_at
    from source
)

select * from final
