"""Tenant-keyed caching: entries live in a tenant's namespace, chosen by the library."""

from tenantry.cache.backends import (
    CacheBackend,
    MemoryBackend,
    backend_from_url,
    check_cache_url,
)
from tenantry.cache.tenant_cache import TenantCache

__all__ = ["CacheBackend", "MemoryBackend", "TenantCache", "backend_from_url", "check_cache_url"]
