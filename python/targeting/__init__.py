"""Bayesian targeting on the marketing_mart feature mart."""
