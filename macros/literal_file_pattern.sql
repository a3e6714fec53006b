{% macro literal_file_pattern(path) -%}
    {#- A file path as a DuckDB file pattern that matches that one name only: DuckDB's readers
        expand [..], * and ?, so each is escaped as a one-character class ([[], [*], [?]). -#}
    {{- return(path | string | replace('[', '[[]') | replace('*', '[*]') | replace('?', '[?]')) -}}
{%- endmacro %}
