{% macro purchases_checksum(orders, lines) -%}
    {#- SQL: an order-free fingerprint of the orders and purchase lines the windowed purchase
        features read (the exact sums of 64-bit row hashes of those columns, added). -#}
    ({{ relation_checksum(orders, ['client_id', 'purchased_on', 'lines', 'units', 'revenue', 'max_price',
        'days_since_previous_order']) }})
    + ({{ relation_checksum(lines, ['client_id', 'purchased_on', 'root_category_id', 'leaf_category_id', 'is_sale']) }})
{%- endmacro %}
