-- Per client and day on which a received campaign's 7-day rates became known: how many
-- such campaigns, the sum of their rates, and the running totals of both. Rates are summed
-- as decimals: exact, so the totals do not depend on the order rows arrive in (a double sum
-- differs in the last bits between a full and an incremental build).
with

messages as (
    select * from {{ ref('stg_apparel__messages') }}
),

campaign_rates as (
    select * from {{ ref('int_campaign_rates_measured') }}
),

received as (
    select distinct
        client_id,
        bulk_campaign_id
    from messages
    where event = 'send'
),

daily as (
    select
        received.client_id,
        campaign_rates.known_on,
        count(*) as campaigns,
        sum(cast(campaign_rates.open_rate_7d as decimal(18, 12))) as sum_open_rate,
        sum(cast(campaign_rates.click_rate_7d as decimal(18, 12))) as sum_click_rate
    from received
    inner join campaign_rates on received.bulk_campaign_id = campaign_rates.bulk_campaign_id
    group by received.client_id, campaign_rates.known_on
),

final as (
    select
        client_id,
        known_on,
        sum(campaigns) over running as cum_campaigns,
        sum(sum_open_rate) over running as cum_open_rate,
        sum(sum_click_rate) over running as cum_click_rate
    from daily
    window running as (partition by client_id order by known_on rows between unbounded preceding and current row)
)

select * from final
