{% macro changed_clients_relation() -%}
    {#- Where an incremental model's pre-hook keeps the clients it recomputes this run
        (<model>_changes beside it, dropped by its post-hook). -#}
    {{ return(api.Relation.create(
        database=this.database, schema=this.schema, identifier=this.identifier ~ '_changes'
    )) }}
{%- endmacro %}
