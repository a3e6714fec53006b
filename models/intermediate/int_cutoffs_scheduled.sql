-- The one place cutoffs come from. A feature at as_of_date uses only events strictly before
-- it; its label is a purchase in [as_of_date, as_of_date + label_window_days).
with

purchases as (
    select * from {{ ref('stg_apparel__purchases') }}
),

staged_messages as (
    select * from {{ ref('stg_apparel__messages') }}
),

messages as (
    -- events dated before their message's first send do not move the data's first day
    {{ counted_message_events('staged_messages') }}
),

bounds as (
    select
        least(
            (select min(purchased_on) from purchases), (select min(event_date) from messages)
        ) as first_date,
        greatest(
            (select max(purchased_on) from purchases), (select max(event_date) from messages)
        ) as last_date,
        (select max(purchased_on) from purchases) as last_purchase_date
),

training as (
    {% if var('cutoffs') | length > 0 %}
    {%- for c in var('cutoffs') %}
        {%- set text = c | string -%}
        {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', text) %}
            {{ exceptions.raise_compiler_error('var cutoffs holds ' ~ c ~ '; expected dates like 2023-06-01') }}
        {%- endif %}
        {#- a real calendar day: the month 1-12, the day within that month's length -#}
        {%- set y, m, d = text[:4] | int, text[5:7] | int, text[8:] | int -%}
        {%- set month_days = 0 if m < 1 or m > 12 else (
            modules.datetime.date(y + m // 12, m % 12 + 1, 1) - modules.datetime.timedelta(days=1)
        ).day -%}
        {%- if d < 1 or d > month_days %}
            {{ exceptions.raise_compiler_error('var cutoffs holds ' ~ c ~ ', which is not a calendar day; expected dates like 2023-06-01') }}
        {%- endif %}
    {%- endfor %}
    -- a cutoff after the scoring cutoff (the day after the data ends) would be dropped
    -- silently: fail, naming it
    select
        case
            when cast(listed.as_of_text as date) > (select cast(last_date + interval 1 day as date) from bounds)
                then {{ raise_error() }}(
                    'var cutoffs holds ' || listed.as_of_text
                    || ', after the scoring cutoff (the day after the data ends); expected cutoffs within the data'
                )
            else cast(listed.as_of_text as date)
        end as as_of_date
    from (
        values {% for c in var('cutoffs') %}({{ sql_string(c) }}){% if not loop.last %}, {% endif %}{% endfor %}
    ) as listed (as_of_text)
    {% else %}
        select cast(months.month_start as date) as as_of_date
        from (
            {{ monthly_dates(
                "date_trunc('month', first_date + interval " ~ number_var('min_history_days') ~ " day) + interval 1 month",
                'last_date', 'month_start', 'bounds'
            ) }}
        ) as months
    {% endif %}
),

scoring as (
    select cast(last_date + interval 1 day as date) as as_of_date from bounds
),

final as (
    select
        cutoffs.as_of_date,
        cutoffs.as_of_date = scoring_cutoff.as_of_date as is_scoring_cutoff,
        cast(cutoffs.as_of_date + interval {{ number_var('label_window_days') }} day as date) as label_window_end,
        -- purchases are observed through last_purchase_date: the window must end by then
        cutoffs.as_of_date + interval {{ number_var('label_window_days') }} day
        <= bounds.last_purchase_date + interval 1 day as is_label_complete,
        {{ number_var('label_window_days') }} as label_window_days
    from (
        select as_of_date from training
        union
        select as_of_date from scoring
    ) as cutoffs
    cross join scoring as scoring_cutoff
    cross join bounds
    where cutoffs.as_of_date <= scoring_cutoff.as_of_date
)

select * from final
