"""PostgreSQL row-level security: the second wall behind ORM scoping.

* :mod:`~tenantry.rls.policy`: the DDL of the one policy every tenant table gets;
* :mod:`~tenantry.rls.grants`: what the runtime (app) role may do;
* :mod:`~tenantry.rls.migration`: helpers a migration calls (no-ops on SQLite);
* :mod:`~tenantry.rls.session`: the per-transaction ``app.tenant_id`` setting.
"""

from tenantry.rls.grants import grant_app_role, grant_statements
from tenantry.rls.migration import disable_tenant_rls, enable_all_tenant_rls, enable_tenant_rls
from tenantry.rls.policy import (
    POLICY_NAME,
    TENANT_SETTING,
    disable_rls_statements,
    enable_rls_statements,
    is_control_plane,
    policy_expression,
)
from tenantry.rls.session import install_rls_context

__all__ = [
    "POLICY_NAME",
    "TENANT_SETTING",
    "disable_rls_statements",
    "disable_tenant_rls",
    "enable_all_tenant_rls",
    "enable_rls_statements",
    "enable_tenant_rls",
    "grant_app_role",
    "grant_statements",
    "install_rls_context",
    "is_control_plane",
    "policy_expression",
]
