"""Benchmarks: the cost of tenantry's isolation against a bare stack, measured in one run."""
