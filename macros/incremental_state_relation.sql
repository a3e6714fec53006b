{% macro incremental_state_relation() -%}
    {#- Where a model incremental by period keeps what its last run saw (<model>_state beside
        it): the largest load id, the fingerprint of the inputs whose change recomputes
        everything, and one fingerprint per period of the inputs checked period by period.
        Bookkeeping only, never exported; dropping it makes the next run recompute every
        period. -#}
    {{ return(api.Relation.create(
        database=this.database, schema=this.schema, identifier=this.identifier ~ '_state'
    )) }}
{%- endmacro %}
