-- The mart's population: every client seen (a purchase or a message) strictly before a
-- cutoff, crossed with that cutoff.
with

purchases as (
    select * from {{ ref('stg_apparel__purchases') }}
),

staged_messages as (
    select * from {{ ref('stg_apparel__messages') }}
),

messages as (
    -- events dated before their message's first send do not make a client seen earlier
    {{ counted_message_events('staged_messages') }}
),

cutoffs as (
    select * from {{ ref('int_cutoffs_scheduled') }}
),

first_seen as (
    select
        client_id,
        min(first_date) as first_seen_on
    from (
        select
            client_id,
            min(purchased_on) as first_date
        from purchases
        group by client_id
        union all
        select
            client_id,
            min(event_date) as first_date
        from messages
        group by client_id
    ) as firsts
    group by client_id
),

final as (
    select
        first_seen.client_id,
        cutoffs.as_of_date,
        first_seen.first_seen_on
    from first_seen
    inner join cutoffs on first_seen.first_seen_on < cutoffs.as_of_date
)

select * from final
