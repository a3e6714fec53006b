"""HTML reports.

One page layout and shared figure helpers for the model, experiment, uplift, segment and CLV
pages. No report imports a command.
"""
