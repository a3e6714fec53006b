{% macro raw_file_batch(source_name, table_name) %}
    {#- For a model incremental by raw file: list the files the source's glob matches now with
        a fingerprint (size and modification time), compare them with the files already in
        {{ this }} (column source_file, source_fingerprint), and return
        {'files': [(path, fingerprint), ...], 'pending': [paths to (re)load]}.
        Full builds load every file. A loaded file that is gone fails the build with a clear
        message (its rows cannot be removed by an incremental run). -#}
    {%- set files = [] -%}
    {%- set pending = [] -%}
    {%- if not execute -%}
        {{ return({'files': [('none', 'none')], 'pending': ['none']}) }}
    {%- endif -%}
    {%- set src = graph.sources['source.' ~ project_name ~ '.' ~ source_name ~ '.' ~ table_name] -%}
    {%- set meta = src.config.meta -%}
    {%- set pattern = meta.raw_path ~ '/' ~ src.identifier ~ meta.raw_suffix ~ meta.get('raw_glob', '') ~ '.' ~ meta.raw_ext -%}
    {%- set found = run_query(
        "select filename, size || '@' || epoch_ms(last_modified) from read_blob('" ~ pattern ~ "') order by 1"
    ) -%}
    {%- for row in found.rows -%}{%- do files.append((row[0], row[1])) -%}{%- endfor -%}
    {%- if files | length == 0 -%}
        {{ exceptions.raise_compiler_error('no raw file matches ' ~ pattern) }}
    {%- endif -%}
    {%- if is_incremental() -%}
        {%- set loaded = {} -%}
        {%- for row in run_query('select distinct source_file, source_fingerprint from ' ~ this).rows -%}
            {%- do loaded.update({row[0]: row[1]}) -%}
        {%- endfor -%}
        {%- set current = {} -%}
        {%- for path, fingerprint in files -%}{%- do current.update({path: fingerprint}) -%}{%- endfor -%}
        {%- set gone = [] -%}
        {%- for path in loaded if path not in current -%}{%- do gone.append(path) -%}{%- endfor -%}
        {%- if gone -%}
            {{ exceptions.raise_compiler_error(
                'raw file(s) ' ~ gone | join(', ') ~ ' were loaded into ' ~ this ~ ' but no longer match '
                ~ pattern ~ ' (moved, renamed or deleted). Put them back, or rebuild from the files '
                ~ 'present with `dbt build --full-refresh`.') }}
        {%- endif -%}
        {%- for path, fingerprint in files if loaded.get(path) != fingerprint -%}
            {%- do pending.append(path) -%}
        {%- endfor -%}
    {%- else -%}
        {%- for path, fingerprint in files -%}{%- do pending.append(path) -%}{%- endfor -%}
    {%- endif -%}
    {{ return({'files': files, 'pending': pending}) }}
{% endmacro %}
