with

source as (
    select * from {{ source('ml', 'customer_clv') }}
),

final as (
    select
        run_id,
        client_id,
        as_of_date,
        horizon,
        frequency,
        recency,
        age,
        monetary_value,
        expected_purchases,
        expected_purchases_lower,
        expected_purchases_upper,
        p_alive,
        p_alive_lower,
        p_alive_upper,
        expected_order_value,
        expected_order_value_lower,
        expected_order_value_upper,
        clv,
        clv_lower,
        clv_upper
    from source
)

select * from final
