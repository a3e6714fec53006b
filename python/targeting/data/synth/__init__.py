"""Generate raw files in the exact layout of the public apparel CRM dataset.

Behaviour is driven by hidden per-client traits, so that features computed from the history
really predict the 90-day label:

* ``propensity`` (z): the log purchase rate; buyers' interest decays after acquisition
  toward a small floor, so recency and frequency both carry signal.
* ``engagement`` (u, correlated with z): drives opens and clicks.
* ``push_preference``: the share of messages a client gets by mobile push.
* ``price_level``: the client's typical item price.

The label of the final cutoff (the target file) is drawn from the same purchase process over
the 90 days after the data ends; its exact probability is written, with the true effect
sizes, to ``<out>/ground_truth/`` which only tests and evaluation read. Message events, the
bulk of the data, are generated campaign by campaign and streamed to disk, so memory stays
bounded at ``--scale 1`` (12.7M message rows).

Modules, by concern: ``config`` (settings, true effects, the real sizes), ``clients``
(hidden traits and the purchase process), ``campaigns``, ``messages``, ``purchases``,
``daily`` (the wide daily tables), ``writers`` (files and ground truth) and ``generate``.
This is test-data tooling: nothing in the dbt project or the model layer imports it.
"""

from targeting.data.synth.clients import interest_integral, true_purchase_probability
from targeting.data.synth.config import LABEL_WINDOW_DAYS, SynthConfig, TrueEffects
from targeting.data.synth.generate import generate

__all__ = [
    "LABEL_WINDOW_DAYS",
    "SynthConfig",
    "TrueEffects",
    "interest_integral",
    "generate",
    "true_purchase_probability",
]
