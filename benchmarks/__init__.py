"""Benchmarks: ``./csx.sh bench`` (or ``python -m benchmarks [NAME …] [--quick]``)."""
