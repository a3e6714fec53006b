{% macro beta_smoothed_rate(successes, trials, prior_rate, prior_strength=none) -%}
    {#- Posterior mean of a rate under a Beta prior centred on prior_rate with
        prior_strength pseudo-trials: (successes + k * prior) / (trials + k). With no trials
        it is the prior; with many it approaches successes / trials. -#}
    {%- set k = prior_strength if prior_strength is not none else var('rate_prior_strength') -%}
    (({{ successes }}) + {{ k }} * ({{ prior_rate }})) / (({{ trials }}) + {{ k }})
{%- endmacro %}
