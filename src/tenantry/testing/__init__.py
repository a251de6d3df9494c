"""Test kit for apps on tenantry: people, the route-walk attack, and the pytest plugin.

The plugin (``tenantry.testing.plugin``) is registered by the ``pytest11`` entry
point, so installing tenantry gives every test suite its ``tenantry_*`` fixtures.
"""

from tenantry.testing.attack import (
    UnreachedRoute,
    Victim,
    attack_routes,
    collect_victim,
    quotas_switched_off,
    scoping_switched_off,
)
from tenantry.testing.members import (
    PASSWORD,
    Member,
    invite_and_join,
    invite_code,
    link_token,
    member_of,
    register,
    signup_token,
    unique_email,
)
from tenantry.testing.routes import Operation, collection_routes, object_routes, operations
from tenantry.testing.seeding import seed_every_table

__all__ = [
    "PASSWORD",
    "Member",
    "Operation",
    "UnreachedRoute",
    "Victim",
    "attack_routes",
    "collect_victim",
    "collection_routes",
    "invite_and_join",
    "invite_code",
    "link_token",
    "member_of",
    "object_routes",
    "operations",
    "quotas_switched_off",
    "register",
    "scoping_switched_off",
    "seed_every_table",
    "signup_token",
    "unique_email",
]
