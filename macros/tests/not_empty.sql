{% test not_empty(model) %}
{#- Fails when the model has no rows. -#}
select 'no rows' as problem
where not exists (select 1 from {{ model }})
{% endtest %}
