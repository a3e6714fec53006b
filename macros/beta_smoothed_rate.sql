{% macro beta_smoothed_rate(successes, trials, prior_rate, prior_strength=none) -%}
    {#- Posterior mean of a rate under a Beta prior centred on prior_rate with
        prior_strength pseudo-trials: (successes + k * prior) / (trials + k). With no trials
        it is the prior; with many it approaches successes / trials. Successes are capped at
        trials (re-opens and opens of older messages can outnumber a window's sends), so the
        rate stays in [0, 1]. -#}
    {%- set k = prior_strength if prior_strength is not none else number_var('rate_prior_strength', whole=false) -%}
    (least({{ successes }}, {{ trials }}) + {{ k }} * ({{ prior_rate }})) / (({{ trials }}) + {{ k }})
{%- endmacro %}
