{% macro register_raw_tables() %}
    {#- on-run-start on Spark (nothing elsewhere): register every raw apparel file pattern
        under var raw_path as an external table apparel_raw.<table>__files (CSV read as text,
        or Parquet) and a view apparel_raw.<table> over it with the `filename` column the
        staging models name in their messages (Spark gives the path URL-encoded: decoded, a
        plus sign kept, so it equals the listed path). Optional files that are absent get no table.
        Runs every build, so a changed raw_path or a new daily file is read. -#}
    {%- if not execute or target.type != 'spark' -%}{{ return('') }}{%- endif -%}
    {%- do run_query('create schema if not exists apparel_raw') -%}
    {%- for src in graph.sources.values() | sort(attribute='name') if src.source_name == 'apparel' -%}
        {%- set files = 'apparel_raw.' ~ src.name ~ '__files' -%}
        {%- do run_query('drop view if exists apparel_raw.' ~ src.name) -%}
        {%- do run_query('drop table if exists ' ~ files) -%}
        {%- set matched = raw_files(src.source_name, src.name) -%}
        {%- if not matched and not src.config.meta.get('optional') -%}
            {{ exceptions.raise_compiler_error('no raw file matches ' ~ raw_file_pattern(src.source_name, src.name)) }}
        {%- endif -%}
        {%- if matched -%}
            {#- a table's relative path would be read inside the warehouse: the folder Spark
                listed the files in, absolute and read literally, with the file name pattern -#}
            {%- set path = hadoop_literal_path(matched[0][0].rsplit('/', 1)[0]) ~ '/' ~ raw_file_pattern(src.source_name, src.name, name_only=true) -%}
            {%- if var('raw_format') == 'parquet' -%}
                {%- set options = "using parquet options (path " ~ sql_string(path) ~ ")" -%}
            {%- else -%}
                {%- set options = "using csv options (path " ~ sql_string(path)
                    ~ ", header 'true', quote '\"', escape '\"', mode 'FAILFAST')" -%}
            {%- endif -%}
            {%- do run_query('create table ' ~ files ~ ' ' ~ options) -%}
            {%- do run_query(
                'create view apparel_raw.' ~ src.name ~ " as select *, regexp_replace(url_decode(replace(_metadata.file_path, '+', '%2B')), '^file:', '') as filename from " ~ files
            ) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return('') }}
{% endmacro %}
