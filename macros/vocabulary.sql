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
    {%- endfor -%}
    {{ return(vocab) }}
{% endmacro %}
