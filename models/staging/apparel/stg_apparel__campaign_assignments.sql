-- One row per client and holdout experiment (campaign): the arm the client was randomised
-- to and when. The file is optional (the public dataset has none): without it this model
-- is empty. A client assigned twice to one campaign fails the build, naming both.
{%- set present = raw_files('apparel', 'campaign_assignments') | length > 0 if execute else true %}
with

-- without the file: no rows of the raw columns, so the checks below run on nothing
source as (
    {%- if present %}
        select * from {{ source('apparel', 'campaign_assignments') }}
    {%- else %}
        select
            cast(null as string) as client_id,
            cast(null as string) as bulk_campaign_id,
            cast(null as string) as variant,
            cast(null as string) as assigned_at,
            cast(null as string) as filename
        where false
    {%- endif %}
),

typed as (
    select
        filename as source_file,
        {{ checked_cast(
            'client_id', 'bigint', 'a client id (whole digits) that fits a 64-bit integer', rule='id'
        ) }} as client_id,
        {{ checked_cast(
            'bulk_campaign_id', 'bigint', 'a campaign id (whole digits) that fits a 64-bit integer', rule='id'
        ) }} as bulk_campaign_id,
        case
            when nullif(trim(cast(variant as string)), '') is null
                then {{ empty_value("'variant'", 'an arm name') }}
            else lower(trim(cast(variant as string)))
        end as variant,
        {{ checked_date('assigned_at', fmt='%Y-%m-%d %H:%M:%S', data_type='timestamp') }} as assigned_at
    from source
),

counted as (
    select
        *,
        count(*) over (partition by bulk_campaign_id, client_id) as n_rows
    from typed
),

final as (
    select
        {{ checked_value(
            'client_id', 'n_rows = 1', 'client_id',
            "assigned once per campaign (the client is assigned to campaign ' || bulk_campaign_id || ' more than once)"
        ) }} as client_id,
        bulk_campaign_id,
        variant,
        -- an assignment in the future would put its outcome window after the data: refused
        {{ checked_value(
            'assigned_at', 'cast(assigned_at as date) <= current_date', 'assigned_at', 'a time up to today'
        ) }} as assigned_at,
        cast(assigned_at as date) as assigned_on,
        source_file
    from counted
)

select * from final
