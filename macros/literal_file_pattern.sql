{% macro literal_file_pattern(path) -%}
    {#- A file path as a DuckDB file pattern that matches that one name only: DuckDB's readers
        expand [..], * and ?, so each is escaped as a one-character class ([[], [*], [?]). -#}
    {{- return(path | string | replace('[', '[[]') | replace('*', '[*]') | replace('?', '[?]')) -}}
{%- endmacro %}


{% macro hadoop_literal_path(path) -%}
    {#- A path as a Hadoop glob that matches that one name only: Spark's file sources expand
        {..}, [..], * and ? in a path (rg[1] would read rg1), and Hadoop's glob takes a
        backslash as an escape, so each of those characters (and the backslash) is escaped. -#}
    {{- return(
        path | string | replace('\\', '\\\\') | replace('{', '\\{') | replace('}', '\\}')
        | replace('[', '\\[') | replace(']', '\\]') | replace('*', '\\*') | replace('?', '\\?')
    ) -}}
{%- endmacro %}
