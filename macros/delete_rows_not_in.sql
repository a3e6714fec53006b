{% macro delete_rows_not_in(relation, columns) %}
    {#- Post-hook of an incremental model keyed like `relation`: delete the stored rows whose
        key (`columns`) is no longer in `relation` (e.g. yesterday's scoring cutoff). A no-op
        in full builds. -#}
    {%- if not execute or not is_incremental() -%}{{ return('select 1') }}{%- endif -%}
    delete from {{ this }} as stored
    where not exists (
        select 1
        from {{ relation }} as wanted
        where
            {% for c in columns -%}
                wanted.{{ adapter.quote(c) }} = stored.{{ adapter.quote(c) }}{{ ' and ' if not loop.last }}
            {%- endfor %}
    )
{% endmacro %}
