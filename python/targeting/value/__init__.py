"""Customer value: lifetime value with BG/NBD and Gamma-Gamma (spec and command)."""
