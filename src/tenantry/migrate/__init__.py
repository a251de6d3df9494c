"""tenantize: convert a single-tenant database into a tenantry one, verified and reversible."""

from tenantry.migrate import sqlite_convert, state
from tenantry.migrate.apply import ApplyResult, apply, finish
from tenantry.migrate.backup import backup, default_backup_path, restore
from tenantry.migrate.draft import draft_mapping
from tenantry.migrate.engine import conversion_engine
from tenantry.migrate.errors import (
    MappingError,
    ProblemsFound,
    StuckConversion,
    TenantizeError,
    VerificationFailed,
)
from tenantry.migrate.mapping import Mapping, load_mapping, parse_mapping
from tenantry.migrate.plan import Plan, Problem, build_plan
from tenantry.migrate.verify import Verification, verify

__all__ = [
    "ApplyResult",
    "Mapping",
    "MappingError",
    "Plan",
    "Problem",
    "ProblemsFound",
    "StuckConversion",
    "TenantizeError",
    "Verification",
    "VerificationFailed",
    "apply",
    "backup",
    "build_plan",
    "conversion_engine",
    "default_backup_path",
    "draft_mapping",
    "finish",
    "load_mapping",
    "parse_mapping",
    "restore",
    "sqlite_convert",
    "state",
    "verify",
]
