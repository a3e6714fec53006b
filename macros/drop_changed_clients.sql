{% macro drop_changed_clients() %}
    {#- Post-hook pairing record_changed_clients: drop the list of recomputed clients. -#}
    {%- if not execute -%}{{ return('select 1') }}{%- endif -%}
    drop table if exists {{ changed_clients_relation() }}
{% endmacro %}
