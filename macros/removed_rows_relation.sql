{% macro removed_rows_relation(relation) -%}
    {#- The log of rows removed from an incremental staging model (files changed or gone),
        beside it as <model>_removed: one row per client and load with the earliest event
        date removed. Downstream incremental models read it to recompute those clients. -#}
    {{ return(api.Relation.create(
        database=relation.database, schema=relation.schema, identifier=relation.identifier ~ '_removed'
    )) }}
{%- endmacro %}
