-- One row per purchased line item. Exact duplicate rows are kept: in this export an order
-- with two units of the same item appears as two identical lines (quantity is almost always
-- 1), so dropping them would understate spend. `is_repeated_line` marks the repeats for
-- anyone who wants the deduplicated view.
with

source as (
    select * from {{ source('apparel', 'purchases') }}
),

markers as (
    select * from {{ ref('category_markers') }}
),

marker_lists as (
    select
        {{ list_collect('category_id', "marker = 'sale'") }} as sale_ids,
        {{ list_collect('category_id', "marker = 'women'") }} as women_ids,
        {{ list_collect('category_id', "marker = 'men'") }} as men_ids,
        {{ list_collect('category_id') }} as marker_ids
    from markers
),

typed as (
    select
        filename as source_file,
        {{ checked_cast(
            'client_id', 'bigint', 'a client id (whole digits) that fits a 64-bit integer', rule='id'
        ) }} as client_id,
        {{ checked_cast('quantity', 'integer', 'a whole number of units') }} as quantity,
        {{ checked_cast('price', 'double', 'a number') }} as price,
        {{ checked_date('date') }} as purchased_on,
        cast(message_id as string) as message_id,
        case
            when
                {{ full_match('trim(cast(category_ids as string))', var('value_rules')['category_ids']) }}
                -- every id fits a 64-bit integer
                and {{ list_every(
                    "regexp_extract_all(cast(category_ids as string), '''([0-9]+)''', 1)",
                    'x', 'try_cast(x as bigint) is not null'
                ) }}
                then trim(cast(category_ids as string))
            else {{ raise_error() }}(
                'raw file ' || filename || ': column category_ids has value '''
                || coalesce(cast(category_ids as string), 'NULL')
                || ''' which is not a Python list of quoted ids that fit 64-bit integers, '
                || 'like [''4'', ''28''], [] or [None]'
            )
        end as category_ids_raw
    from source
),

in_range as (
    select
        source_file,
        client_id,
        {{ checked_value('quantity', 'quantity >= 1', 'quantity', 'a positive number of units') }} as quantity,
        {{ checked_value('price', 'price >= 0', 'price', 'a price of 0 or more') }} as price,
        {{ checked_value('purchased_on', 'purchased_on <= current_date', 'date', 'a date up to today') }}
            as purchased_on,
        {{ checked_value(
            'message_id', full_match('message_id', var('value_rules')['message_id']),
            'message_id', 'a message id like <client_id>-<campaign_id>-<hex>'
        ) }} as message_id,
        category_ids_raw
    from typed
),

parsed as (
    select
        typed.*,
        {{ list_map(
            "regexp_extract_all(typed.category_ids_raw, '''([0-9]+)''', 1)", 'x', 'cast(x as bigint)'
        ) }} as category_ids,
        case typed.category_ids_raw
            when '[]' then 'empty'
            when '[None]' then 'none'
            else 'listed'
        end as category_ids_status,
        try_cast(split_part(typed.message_id, '-', 1) as bigint) as message_client_id,
        try_cast(split_part(typed.message_id, '-', 2) as bigint) as message_bulk_campaign_id
    from in_range as typed
),

enriched as (
    select
        parsed.source_file,
        parsed.client_id,
        parsed.quantity,
        parsed.price,
        parsed.purchased_on,
        parsed.message_id,
        parsed.category_ids,
        parsed.category_ids_status,
        parsed.message_client_id,
        parsed.message_bulk_campaign_id,
        filter(
            parsed.category_ids, {{ lambda_fn('x', 'not array_contains(marker_lists.marker_ids, x)') }}
        ) as tree_category_ids,
        {{ list_has_any('parsed.category_ids', 'marker_lists.sale_ids') }} as is_sale,
        case
            when {{ list_has_any('parsed.category_ids', 'marker_lists.women_ids') }} then 'women'
            when {{ list_has_any('parsed.category_ids', 'marker_lists.men_ids') }} then 'men'
        end as gender_marker
    from parsed
    cross join marker_lists
),

numbered as (
    select
        *,
        row_number() over (
            partition by client_id, purchased_on, message_id
            order by price, quantity, category_ids_status, category_ids
        ) as line_number
    from enriched
),

final as (
    select
        client_id,
        purchased_on,
        message_id,
        line_number,
        quantity,
        price,
        category_ids,
        category_ids_status,
        is_sale,
        gender_marker,
        message_bulk_campaign_id,
        message_client_id,
        source_file,
        quantity * price as line_revenue,
        {{ list_element('tree_category_ids', 1) }} as root_category_id,
        {{ list_element('tree_category_ids', -1) }} as leaf_category_id,
        cardinality(tree_category_ids) as category_depth,
        coalesce(message_client_id = client_id, false) as message_matches_client,
        -- identical lines get consecutive line numbers; every one after the first is a repeat
        -- (derived from line_number so the same input always flags the same rows)
        line_number > min(line_number) over (
            partition by
                client_id, purchased_on, message_id, price, quantity,
                category_ids_status, category_ids
        ) as is_repeated_line
    from numbered
)

select * from final
