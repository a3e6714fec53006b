{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true, where=none) %}
{#- Rows whose value lies outside [min_value, max_value] (either bound optional). -#}
select *
from {{ model }}
where
    {{ column_name }} is not null
    and not (
        true
        {%- if min_value is not none %}
        and {{ column_name }} {{ '>=' if inclusive else '>' }} {{ min_value }}
        {%- endif %}
        {%- if max_value is not none %}
        and {{ column_name }} {{ '<=' if inclusive else '<' }} {{ max_value }}
        {%- endif %}
    )
    {%- if where %}
    and ({{ where }})
    {%- endif %}
{% endtest %}
