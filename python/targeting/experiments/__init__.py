"""Experiments.

A/B tests (frequentist and Bayesian), regression adjustment, sequential tests, planning,
holdout lift with partial pooling.
"""
