"""Propensity models.

Fit, score (Python and SQL engines), prediction, evaluation against baselines, comparison,
saved runs.
"""
