"""The `targeting` command line."""
