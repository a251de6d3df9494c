"""meterbook's plans: Free, Household and Pro, and the feature flags the app checks."""

from __future__ import annotations

from tenantry.plans import (
    EXPORT_BYTES_PER_MONTH,
    MEMBERS,
    REQUESTS_PER_MINUTE,
    REQUESTS_PER_MONTH,
    STORAGE_BYTES,
    Catalogue,
    Plan,
    rows_limit,
)

CSV_IMPORT = "csv_import"
LONG_RANGE_INSIGHTS = "long_range_insights"
# How far back the insights of a plan without long-range insights may look.
HISTORY_DAYS = "history_days"

CATALOGUE = Catalogue.of(
    [
        Plan(
            name="free",
            display_name="Free",
            limits={
                MEMBERS: 2,
                HISTORY_DAYS: 365,
                rows_limit("readings"): 2_000,
                rows_limit("vouchers"): 500,
                REQUESTS_PER_MINUTE: 300,
                REQUESTS_PER_MONTH: 50_000,
                EXPORT_BYTES_PER_MONTH: 200_000_000,
                STORAGE_BYTES: 20_000_000,
            },
        ),
        Plan(
            name="household",
            display_name="Household",
            limits={
                MEMBERS: 6,
                rows_limit("readings"): 50_000,
                rows_limit("vouchers"): 10_000,
                REQUESTS_PER_MINUTE: 1_200,
                REQUESTS_PER_MONTH: 1_000_000,
                STORAGE_BYTES: 500_000_000,
            },
            features=frozenset({CSV_IMPORT, LONG_RANGE_INSIGHTS}),
            trial_days=14,
        ),
        Plan(
            name="pro",
            display_name="Pro",
            limits={REQUESTS_PER_MINUTE: 6_000},
            features=frozenset({CSV_IMPORT, LONG_RANGE_INSIGHTS}),
        ),
    ],
    default="free",
)
