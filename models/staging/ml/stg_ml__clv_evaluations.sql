with

source as (
    select * from {{ source('ml', 'clv_evaluations') }}
),

final as (
    select
        run_id,
        as_of_date,
        model,
        decile,
        n_customers,
        predicted_purchases,
        actual_purchases,
        predicted_revenue,
        actual_revenue
    from source
)

select * from final
