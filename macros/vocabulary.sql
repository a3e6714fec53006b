{#- The domain vocabulary (var vocabulary in dbt_project.yml), checked: feature names and
    channel suffixes become column names and raw events and channels are compared as text, so
    each must be a lowercase word; windows are whole days, ascending. Returns the var's mapping. -#}
{% macro vocabulary() %}
    {%- set vocab = var('vocabulary') -%}
    {%- set where = "var vocabulary" -%}
    {%- if vocab is not mapping -%}
        {{ exceptions.raise_compiler_error(where ~ " must be a mapping, got " ~ vocab) }}
    {%- endif -%}
    {%- set word = modules.re.compile('^[a-z][a-z0-9_]{0,39}$') -%}
    {%- for key in ['counted_events', 'flag_events', 'channels'] -%}
        {%- set part = vocab.get(key) -%}
        {%- if part is not mapping or part | length == 0 -%}
            {{ exceptions.raise_compiler_error(where ~ "." ~ key ~ " must be a non-empty mapping of name: raw value, got " ~ part) }}
        {%- endif -%}
        {%- for name, raw in part.items() -%}
            {%- if not word.match(name | string) or not word.match(raw | string) -%}
                {{ exceptions.raise_compiler_error(where ~ "." ~ key ~ " has " ~ name ~ ": " ~ raw ~ "; expected lowercase words (letters, digits, _)") }}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for name in vocab.flag_events if name in vocab.counted_events -%}
        {{ exceptions.raise_compiler_error(where ~ ": " ~ name ~ " is both a counted and a flag event; name each once") }}
    {%- endfor -%}
    {%- for key in ['engagement_windows', 'order_windows'] -%}
        {%- set days = vocab.get(key) -%}
        {%- if days is string or days is not iterable or days | length == 0 -%}
            {{ exceptions.raise_compiler_error(where ~ "." ~ key ~ " must be a list of whole days, got " ~ days) }}
        {%- endif -%}
        {%- for d in days -%}
            {#- NaN differs from itself and an infinity equals itself plus one: refused before | int -#}
            {%- if d is not number or d != d or d == d + 1 or d != d | int or d < 1
                or (not loop.first and d <= days[loop.index0 - 1]) -%}
                {{ exceptions.raise_compiler_error(where ~ "." ~ key ~ " has " ~ d ~ "; expected whole days >= 1, ascending") }}
            {%- endif -%}
        {%- endfor -%}
        {#- the hand-written features of customer_features read these windows -#}
        {%- for d in [90, 365] if d not in days -%}
            {{ exceptions.raise_compiler_error(where ~ "." ~ key ~ " lacks " ~ d ~ "; the mart's hand-written features read the 90/365-day windows") }}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(vocab) }}
{% endmacro %}

{#- Stop a model whose YAML does not list every column the vocabulary derives in it (an event
    added to var vocabulary, say), naming them and the command that writes the list: dbt reads
    column lists and contracts from YAML, which cannot loop over a var. -#}
{% macro vocabulary_columns_listed(names) %}
    {%- if execute -%}
        {%- set missing = [] -%}
        {%- for name in names if name not in model.columns -%}
            {%- do missing.append(name) -%}
        {%- endfor -%}
        {%- if missing -%}
            {{ exceptions.raise_compiler_error(model.name ~ ": var vocabulary derives columns its YAML does not list: "
                ~ missing | join(', ') ~ ". Run `targeting vocabulary sync` to rewrite the generated column lists, then build again.") }}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}

{#- Stop an incremental run of a model whose stored table lacks columns the vocabulary now
    derives (an event type added since it was built), naming them and the full refresh that
    rebuilds it; without this the run fails inside its SQL with a binder error about a column
    of the stored rows. -#}
{% macro vocabulary_columns_stored(names) %}
    {%- if execute and is_incremental() -%}
        {%- set stored = [] -%}
        {%- for column in adapter.get_columns_in_relation(this) -%}
            {%- do stored.append(column.name | lower) -%}
        {%- endfor -%}
        {%- set missing = [] -%}
        {%- for name in names if name | lower not in stored -%}
            {%- do missing.append(name) -%}
        {%- endfor -%}
        {%- if missing -%}
            {{ exceptions.raise_compiler_error(model.name ~ ": its stored table lacks columns var vocabulary now derives: "
                ~ missing | join(', ') ~ " (the vocabulary changed since the table was built). Rebuild it and what "
                ~ "depends on it: dbt build --full-refresh --select " ~ model.name ~ "+") }}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
