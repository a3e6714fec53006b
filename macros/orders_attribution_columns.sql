{% macro orders_attribution_columns() -%}
    {#- The columns of int_orders_aggregated that int_orders_attributed reads: their
        fingerprint (orders_checksum) decides whether it recomputes every order. -#}
    {{ return(['order_id', 'client_id', 'purchased_on', 'message_id', 'revenue']) }}
{%- endmacro %}

{% macro orders_attribution_changed() -%}
    {#- SQL condition on int_orders_attributed ({{ this }}): every order must be recomputed,
        because the orders changed (orders_checksum), staged messages were removed since its
        last run, or it is empty. Its pre-hook and its body ask the same question: the body
        is compiled just before the pre-hook runs, with every upstream model already built.
        Always true outside incremental runs (full builds, Spark). -#}
    {%- if not execute or not is_incremental() -%}{{ return('select true') }}{%- endif %}
    select
        count(*) = 0
        or max(orders_checksum) is distinct from (
            {{ relation_checksum(ref('int_orders_aggregated'), orders_attribution_columns()) }}
        )
        or {{ removed_since(ref('stg_apparel__messages'), '(select max(load_id) from ' ~ this ~ ')') }}
    from {{ this }}
{%- endmacro %}
