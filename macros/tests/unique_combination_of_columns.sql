{% test unique_combination_of_columns(model, combination_of_columns) %}
{#- Combinations of the listed columns that occur on more than one row. -#}
select
    {{ combination_of_columns | join(', ') }},
    count(*) as n_rows
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}
