"""Plans: the catalogue, limits enforced where rows are written, feature flags, usage metering."""

from tenantry.plans.catalogue import (
    DEFAULT_CATALOGUE,
    EXPORT_BYTES_PER_MONTH,
    FEATURE_PREFIX,
    MEMBERS,
    REQUESTS_PER_MONTH,
    STORAGE_BYTES,
    Catalogue,
    CatalogueError,
    Plan,
    load_catalogue,
    rows_limit,
)
from tenantry.plans.changes import change_plan, remove_override, set_override
from tenantry.plans.entitlements import (
    Entitlements,
    catalogue_of,
    entitlements_for,
    has_feature,
    load_entitlements,
    require_feature,
)
from tenantry.plans.errors import FeatureNotInPlan, PlanChangeRefused, QuotaExceeded
from tenantry.plans.metering import (
    EXPORT_BYTES,
    REQUESTS,
    ROWS_CREATED,
    UsageMeter,
    install_metering,
    meter_of,
    period_end,
    period_start,
)
from tenantry.plans.quotas import enforce_seat, install_quotas, quota_of
from tenantry.plans.usage import Gauge, TableStorage, UsageReport, usage_report

__all__ = [
    "DEFAULT_CATALOGUE",
    "EXPORT_BYTES",
    "EXPORT_BYTES_PER_MONTH",
    "FEATURE_PREFIX",
    "MEMBERS",
    "REQUESTS",
    "REQUESTS_PER_MONTH",
    "ROWS_CREATED",
    "STORAGE_BYTES",
    "Catalogue",
    "CatalogueError",
    "Entitlements",
    "FeatureNotInPlan",
    "Gauge",
    "Plan",
    "PlanChangeRefused",
    "QuotaExceeded",
    "TableStorage",
    "UsageMeter",
    "UsageReport",
    "catalogue_of",
    "change_plan",
    "enforce_seat",
    "entitlements_for",
    "has_feature",
    "install_metering",
    "install_quotas",
    "load_catalogue",
    "load_entitlements",
    "meter_of",
    "period_end",
    "period_start",
    "quota_of",
    "remove_override",
    "require_feature",
    "rows_limit",
    "set_override",
    "usage_report",
]
