"""Benchmarks: they start real stacks, print figures, and assert nothing (``make bench``)."""
