"""Uplift: whom a campaign moves (spec, models, Qini evaluation)."""
