"""The benchmark's plans are meterbook's, but for the per-minute request budget."""

from __future__ import annotations

from pathlib import Path

from meterbook.plans import CATALOGUE
from tenantry.plans import REQUESTS_PER_MINUTE, load_catalogue

BENCH_PLANS = Path(__file__).resolve().parents[2] / "bench" / "plans.toml"


def test_only_the_per_minute_budget_differs() -> None:
    bench = load_catalogue(BENCH_PLANS)
    assert bench.default == CATALOGUE.default
    assert [p.name for p in bench.plans] == [p.name for p in CATALOGUE.plans]
    for ours, theirs in zip(bench.plans, CATALOGUE.plans, strict=True):
        assert ours.limits.get(REQUESTS_PER_MINUTE, 0) is None  # unlimited
        assert {k: v for k, v in ours.limits.items() if k != REQUESTS_PER_MINUTE} == {
            k: v for k, v in theirs.limits.items() if k != REQUESTS_PER_MINUTE
        }
        assert (ours.display_name, ours.features, ours.trial_days) == (
            theirs.display_name,
            theirs.features,
            theirs.trial_days,
        )
