"""Benchmarks: each module runs as ``python -m bench.<name>``, prints a table and writes
``bench/results/<name>.json``. ``python -m bench`` (``make bench``) runs them all."""
