{% macro check_raw_files() %}
    {#- on-run-start: before any apparel staging model runs, open every raw file it reads and
        check that the columns it needs are in the header. Fails with the file's path, the
        missing columns and the header found, instead of a binder error deep in a model.
        A source whose meta says optional is checked only when its file is there. -#}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {#- the sources the selected staging models read (a daily run's selector: the messages
        only); unit tests of staging models read fixtures, but check every source as before -#}
    {%- set wanted = [] -%}
    {%- set every = [] -%}
    {%- for node_id in selected_resources -%}
        {%- if node_id.startswith('unit_test.marketing_mart.stg_apparel__') -%}
            {%- do every.append(node_id) -%}
        {%- elif node_id.startswith('model.marketing_mart.stg_apparel__') -%}
            {%- do wanted.extend(graph.nodes[node_id].depends_on.nodes) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if wanted | length == 0 and every | length == 0 -%}{{ return('') }}{%- endif -%}
    {%- set present = [] -%}
    {%- for src in graph.sources.values() if src.source_name == 'apparel' and (every or src.unique_id in wanted) -%}
        {%- if not src.config.meta.get('optional') or raw_files(src.source_name, src.name) -%}
            {%- do present.append(src) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for src in present -%}
        {%- set relation = source('apparel', src.name) -%}
        {%- set meta = src.config.meta -%}
        {%- set path = raw_file_pattern(src.source_name, src.name) -%}
        {%- if meta.get('raw_glob', '') -%}
            {#- name the files a glob matches (the history and any daily files) -#}
            {%- set matched = raw_files(src.source_name, src.name) | map('first') | list -%}
            {%- if matched -%}{%- set path = matched | join(', ') -%}{%- endif -%}
        {%- endif -%}
        {%- set required = meta.get('required_columns', []) -%}
        {%- set described = run_query(('describe query' if target.type == 'spark' else 'describe') ~ ' select * from ' ~ relation ~ ' limit 0') -%}
        {%- set found = described.columns[0].values() | list -%}
        {%- set missing = [] -%}
        {%- for column in required if column not in found -%}{%- do missing.append(column) -%}{%- endfor -%}
        {%- set has_rows = run_query('select count(*) from (select 1 from ' ~ relation ~ ' limit 1)').columns[0].values()[0] -%}
        {%- if has_rows == 0 -%}
            {{ exceptions.raise_compiler_error('raw file ' ~ path ~ ' has no data rows (an empty file or a header only)') }}
        {%- endif -%}
        {#- a header that names a column twice: DuckDB reads the second as <name>_1, so a
            build would silently use one of them -#}
        {%- for column in found if column.rsplit('_', 1) | length == 2 and column.rsplit('_', 1)[1].isdigit() and column.rsplit('_', 1)[0] in found and column.rsplit('_', 1)[0] in required -%}
            {{ exceptions.raise_compiler_error(
                'raw file ' ~ path ~ ' names column ' ~ column.rsplit('_', 1)[0]
                ~ ' twice in its header (read as ' ~ column.rsplit('_', 1)[0] ~ ' and ' ~ column
                ~ '); every column needs its own name') }}
        {%- endfor -%}
        {%- set expected = meta.get('expected_columns', []) -%}
        {%- set extra = [] -%}
        {%- for column in found if expected and column not in expected and column != 'filename' -%}
            {%- do extra.append(column) -%}
        {%- endfor -%}
        {%- if extra -%}
            {%- do exceptions.warn('raw file ' ~ path ~ ' has column(s) ' ~ extra | join(', ') ~ ' that the project does not read; they are ignored') -%}
        {%- endif -%}
        {%- if missing -%}
            {{ exceptions.raise_compiler_error(
                'raw file ' ~ path ~ ' is missing column(s) ' ~ missing | join(', ')
                ~ '; expected at least ' ~ required | join(', ')
                ~ '; the header has ' ~ (found | reject('equalto', 'filename') | join(', '))
                ~ '. Check the delimiter (comma expected) and the column names.') }}
        {%- endif -%}
    {%- endfor -%}
{% endmacro %}
