{% macro create_ml_tables() %}
    {{ return(adapter.dispatch('create_ml_tables')()) }}
{% endmacro %}


{% macro default__create_ml_tables() %}
    {#- on-run-start: the Python layer owns the ml tables; create them empty when absent so
        `dbt build` works before the first fit, and add the nullable columns a later version
        declared to a table an earlier one created. Their one definition is the columns of the `ml`
        source (models/staging/ml/_ml__sources.yml: data_type and meta.constraint), which
        python/targeting/core/warehouse.py reads too. -#}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set allowed = {'': '', 'not null': ' not null', 'primary key': ' primary key'} -%}
    create schema if not exists ml;
    {%- for src in graph.sources.values() | sort(attribute='name') if src.source_name == 'ml' %}
        create table if not exists ml.{{ adapter.quote(src.name) }} (
            {%- for column in src.columns.values() %}
                {%- set constraint = column.meta.get('constraint', '') -%}
                {%- if constraint not in allowed -%}
                    {{ exceptions.raise_compiler_error('ml source ' ~ src.name ~ '.' ~ column.name ~ ': constraint ' ~ constraint ~ ' is not one of not null, primary key') }}
                {%- endif %}
                {{ adapter.quote(column.name) }} {{ column.data_type }}{{ allowed[constraint] }}{{ ',' if not loop.last }}
            {%- endfor %}
        );
        {#- a table an earlier version created gains the nullable columns added since (null in its rows) #}
        {%- for column in src.columns.values() if not column.meta.get('constraint', '') %}
        alter table ml.{{ adapter.quote(src.name) }} add column if not exists {{ adapter.quote(column.name) }} {{ column.data_type }};
        {%- endfor %}
    {%- endfor %}
{% endmacro %}


{% macro spark__create_ml_tables() %}
    {#- Spark: the same tables, empty, as Parquet tables (one statement a call; Spark's text
        type is string, and it keeps no not-null or key constraints). The Python layer writes
        to DuckDB only, so on Spark they stay empty and the ml marts build on no rows. -#}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- do run_query('create schema if not exists ml') -%}
    {%- for src in graph.sources.values() | sort(attribute='name') if src.source_name == 'ml' -%}
        {%- set columns = [] -%}
        {%- for column in src.columns.values() -%}
            {%- do columns.append(adapter.quote(column.name) ~ ' ' ~ (column.data_type | replace('varchar', 'string'))) -%}
        {%- endfor -%}
        {%- do run_query('create table if not exists ml.' ~ adapter.quote(src.name) ~ ' (' ~ columns | join(', ') ~ ') using parquet') -%}
    {%- endfor -%}
    {{ return('') }}
{% endmacro %}
