-- Purchase features of each client at each cutoff, from orders and lines strictly before
-- the cutoff. Only (client, cutoff) pairs with at least one earlier order have a row.
--
-- Incremental by cutoff: a cutoff's rows depend only on the orders and lines before it, so a
-- run computes the cutoffs not stored yet (a daily run's new scoring cutoff) and the
-- post-hook deletes cutoffs no longer scheduled. When the orders or lines themselves changed
-- (purchases_checksum), the pre-hook deletes every row and all cutoffs are recomputed.
{{ config(
    materialized=incremental_where_supported(),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=["{{ delete_all_rows_if('select max(purchases_checksum) is distinct from ('
        ~ purchases_checksum(ref('int_orders_aggregated'), ref('stg_apparel__purchases')) ~ ') from ' ~ this) }}"],
    post_hook=["{{ delete_rows_not_in(ref('int_cutoffs_scheduled'), ['as_of_date']) }}"]
) }}
with

orders as (
    select * from {{ ref('int_orders_aggregated') }}
),

lines as (
    select * from {{ ref('stg_apparel__purchases') }}
),

cutoffs as (
    select as_of_date from {{ ref('int_cutoffs_scheduled') }}
    {% if is_incremental() %}
        -- the cutoffs not stored yet (all of them after the pre-hook emptied the table)
        where as_of_date not in (select stored_rows.as_of_date from {{ this }} as stored_rows)
    {% endif %}
),

orders_before as (
    select
        orders.*,
        cutoffs.as_of_date
    from orders
    inner join cutoffs on orders.purchased_on < cutoffs.as_of_date
),

order_features as (
    select
        client_id,
        as_of_date,
        {{ days_between("max(purchased_on)", "as_of_date") }} as days_since_last_order,
        {{ days_between("min(purchased_on)", "as_of_date") }} as days_since_first_order,
        {% for days in vocabulary().order_windows -%}
            {{ windowed_sum('1', 'purchased_on', days) }} as orders_{{ days }}d,
            {{ windowed_sum('revenue', 'purchased_on', days) }} as revenue_{{ days }}d,
        {% endfor -%}
        count(*) as orders_all,
        sum(revenue) as revenue_all,
        {{ windowed_sum('units', 'purchased_on', 90) }} as units_90d,
        {{ windowed_sum('units', 'purchased_on', 365) }} as units_365d,
        sum(units) as units_all,
        sum(lines) as lines_all,
        {{ windowed_sum('1', 'purchased_on', 90, 90) }} as orders_prev_90d,
        {{ windowed_sum('revenue', 'purchased_on', 90, 90) }} as revenue_prev_90d,
        max(max_price) as max_item_price_all,
        avg(days_since_previous_order) as mean_gap_days,
        median(days_since_previous_order) as median_gap_days
    from orders_before
    group by client_id, as_of_date
),

lines_before as (
    select
        cutoffs.as_of_date,
        lines.client_id,
        lines.root_category_id,
        lines.leaf_category_id,
        lines.is_sale
    from lines
    inner join cutoffs on lines.purchased_on < cutoffs.as_of_date
),

root_counts as (
    select
        client_id,
        as_of_date,
        root_category_id,
        count(*) as n_lines
    from lines_before
    where root_category_id is not null
    group by client_id, as_of_date, root_category_id
),

favourite_root as (
    select
        client_id,
        as_of_date,
        root_category_id as favourite_root_category
    from (
        select
            client_id,
            as_of_date,
            root_category_id,
            row_number() over (
                partition by client_id, as_of_date order by n_lines desc, root_category_id asc
            ) as preference
        from root_counts
    ) as ranked
    where preference = 1
),

category_features as (
    select
        client_id,
        as_of_date,
        count(distinct root_category_id) as distinct_root_categories,
        count(distinct leaf_category_id) as distinct_leaf_categories,
        avg(cast(is_sale as double)) as sale_line_share
    from lines_before
    group by client_id, as_of_date
),

final as (
    select
        order_features.*,
        category_features.distinct_root_categories,
        category_features.distinct_leaf_categories,
        category_features.sale_line_share,
        favourite_root.favourite_root_category,
        ({{ purchases_checksum('orders', 'lines') }}) as purchases_checksum,
        {{ load_id() }} as load_id
    from order_features
    inner join category_features using (client_id, as_of_date)
    left join favourite_root using (client_id, as_of_date)
)

select * from final
