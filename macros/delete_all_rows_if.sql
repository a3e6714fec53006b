{% macro delete_all_rows_if(condition) %}
    {#- Pre-hook of an incremental model: when `condition` (SQL on the stored table, e.g. "the
        stored fingerprint of an input differs from the input's") holds, delete every stored
        row so the run recomputes them all. A no-op in full builds. -#}
    {%- if not execute or not is_incremental() -%}{{ return('select 1') }}{%- endif -%}
    {%- if condition_holds(condition) %}
        {{ log('  ' ~ this.identifier ~ ': an input changed, recomputing every row', info=true) }}
        delete from {{ this }}
    {%- else -%}
        select 1
    {%- endif %}
{% endmacro %}
