{% macro raw_file_batch(source_name, table_name) %}
    {#- For a model incremental by raw file: list the files the source's glob matches now with
        a fingerprint (size, modification time and a content hash, see raw_files), compare them with the files already in
        {{ this }} (column source_file, source_fingerprint), and return
        {'files': [(path, fingerprint), ...], 'pending': [paths to (re)load],
         'replaced': [staged paths whose rows this build removes: changed or gone]}.
        Full builds load every file. Rows of loaded files that no longer match (moved,
        renamed, deleted) are removed by delete_unmatched_raw_files, the model's pre-hook. -#}
    {%- set files = [] -%}
    {%- set pending = [] -%}
    {%- set replaced = [] -%}
    {%- if not execute -%}
        {{ return({'files': [('none', 'none')], 'pending': ['none'], 'replaced': []}) }}
    {%- endif -%}
    {%- set pattern = raw_file_pattern(source_name, table_name) -%}
    {%- do files.extend(raw_files(source_name, table_name, with_content=true)) -%}
    {%- if files | length == 0 -%}
        {{ exceptions.raise_compiler_error('no raw file matches ' ~ pattern) }}
    {%- endif -%}
    {%- if is_incremental() -%}
        {%- set loaded = {} -%}
        {%- for row in run_query('select distinct source_file, source_fingerprint from ' ~ this).rows -%}
            {%- do loaded.update({row[0]: row[1]}) -%}
        {%- endfor -%}
        {%- for path, fingerprint in files if loaded.get(path) != fingerprint -%}
            {%- do pending.append(path) -%}
        {%- endfor -%}
        {%- set current = {} -%}
        {%- for path, fingerprint in files -%}{%- do current.update({path: fingerprint}) -%}{%- endfor -%}
        {%- for path, fingerprint in loaded.items() if current.get(path) != fingerprint -%}
            {%- do replaced.append(path) -%}
        {%- endfor -%}
    {%- else -%}
        {%- for path, fingerprint in files -%}{%- do pending.append(path) -%}{%- endfor -%}
    {%- endif -%}
    {{ return({'files': files, 'pending': pending, 'replaced': replaced}) }}
{% endmacro %}


{% macro delete_unmatched_raw_files(source_name, table_name) %}
    {#- pre-hook of a model incremental by raw file: delete the rows of files that no longer
        match the source's glob, inside the model's transaction (a failing build undoes it). -#}
    {%- if not execute or not is_incremental() -%}{{ return('select 1') }}{%- endif -%}
    delete from {{ this }} where source_file not in (
        {%- for path, fingerprint in raw_files(source_name, table_name) %}{{ sql_string(path) }}{{ ', ' if not loop.last }}{% endfor -%}
    )
{% endmacro %}


{% macro raw_file_pattern(source_name, table_name, name_only=false) %}
    {#- The path (a glob when the table's meta sets raw_glob) a raw source table reads, the
        folder's own glob characters escaped (meta raw_path_glob); with name_only, its file
        name part alone (the folder is var raw_path). -#}
    {%- set src = graph.sources['source.' ~ project_name ~ '.' ~ source_name ~ '.' ~ table_name] -%}
    {%- set meta = src.config.meta -%}
    {%- set name = src.identifier ~ meta.raw_suffix ~ meta.get('raw_glob', '') ~ '.' ~ meta.raw_ext -%}
    {{ return(name if name_only else meta.raw_path_glob ~ '/' ~ name) }}
{% endmacro %}


{% macro raw_files(source_name, table_name, with_content=false) %}
    {#- The files a raw source table's pattern matches now (see default__raw_files). -#}
    {{ return(adapter.dispatch('raw_files')(source_name, table_name, with_content)) }}
{% endmacro %}


{% macro default__raw_files(source_name, table_name, with_content) %}
    {#- The files a raw source table's pattern matches now, sorted, as (path, fingerprint)
        with fingerprint '<size>@<modification time in ms>', plus '@<64-bit hash of the
        content>' when with_content (var raw_fingerprint: content, the default) for files up
        to var raw_hash_max_mb: a file edited in place with its size and time restored is
        still seen as changed. Larger files (a blob is read whole into memory) keep size and
        time only. Empty when none match. -#}
    {%- set pattern = raw_file_pattern(source_name, table_name) -%}
    {%- set listed = run_query(
        "select filename, size, size || '@' || epoch_ms(last_modified) from read_blob("
        ~ sql_string(pattern) ~ ") order by 1"
    ) -%}
    {%- set hashed = {} -%}
    {%- if with_content and var('raw_fingerprint', 'content') == 'content' -%}
        {%- set limit = number_var('raw_hash_max_mb') * 1048576 -%}
        {%- set small = [] -%}
        {%- for row in listed.rows if row[1] <= limit -%}{%- do small.append(sql_string(literal_file_pattern(row[0]))) -%}{%- endfor -%}
        {%- if small -%}
            {%- for row in run_query("select filename, hash(content) from read_blob([" ~ small | join(', ') ~ "])").rows -%}
                {%- do hashed.update({row[0]: '@' ~ row[1]}) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
    {%- set files = [] -%}
    {%- for row in listed.rows -%}{%- do files.append((row[0], row[2] ~ hashed.get(row[0], ''))) -%}{%- endfor -%}
    {{ return(files) }}
{% endmacro %}


{% macro spark__raw_files(source_name, table_name, with_content) %}
    {#- Spark: the files under var raw_path (read literally: its glob characters escaped)
        whose names match the pattern, listed by Spark's binaryFile source (content not read),
        fingerprint '<size>@<modification time in ms>'.
        The models rebuild in full on Spark, so no content hash is needed. -#}
    {%- do run_query(
        'create or replace temporary view mm_raw_listing using binaryFile options (path '
        ~ sql_string(hadoop_literal_path(var('raw_path'))) ~ ', pathGlobFilter '
        ~ sql_string(raw_file_pattern(source_name, table_name, name_only=true)) ~ ')'
    ) -%}
    {%- set listed = run_query(
        "select regexp_replace(path, '^file:', ''), length || '@' || unix_millis(modificationTime)"
        ~ " from mm_raw_listing order by 1"
    ) -%}
    {%- set files = [] -%}
    {%- for row in listed.rows -%}{%- do files.append((row[0], row[1])) -%}{%- endfor -%}
    {{ return(files) }}
{% endmacro %}
