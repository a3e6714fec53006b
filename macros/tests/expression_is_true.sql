{% test expression_is_true(model, expression, column_name=none) %}
{#- Rows for which the SQL expression (about the row, or about column_name) is not true. -#}
select *
from {{ model }}
where not coalesce(({{ column_name ~ ' ' if column_name else '' }}{{ expression }}), false)
{% endtest %}
