"""Raw data.

The test-data generator, Great Expectations validation, and the Parquet export for BI tools.
"""
