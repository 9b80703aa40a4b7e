"""The ``cardiosbi`` command line."""
