{% macro star_except(relation, except, prefix=none) -%}
    {#- SQL select list: every column of `relation` (a model) but those in `except`, each as
        `<prefix>.<column>` when prefix is set. Read from the catalog at run time; `*` while
        dbt parses. -#}
    {%- if not execute -%}{{ return('*') }}{%- endif -%}
    {%- set wanted = [] -%}
    {%- for column in adapter.get_columns_in_relation(relation) if column.name | lower not in except -%}
        {%- do wanted.append((prefix ~ '.' if prefix else '') ~ adapter.quote(column.name)) -%}
    {%- endfor -%}
    {%- if not wanted -%}
        {{ exceptions.raise_compiler_error('star_except: ' ~ relation ~ ' has no columns to select (is it built?)') }}
    {%- endif -%}
    {{ return(wanted | join(',\n        ')) }}
{%- endmacro %}
