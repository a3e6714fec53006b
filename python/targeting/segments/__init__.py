"""Customer segments: k-means on standardised behavioural features (spec and command)."""
