"""Tenant roles and their order: owner > admin > member > viewer."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A member's role in one tenant. Higher roles can do all that lower ones can."""

    VIEWER = "viewer"
    MEMBER = "member"
    ADMIN = "admin"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Role) -> bool:
        """True when this role includes every permission of ``other``."""
        return _RANK[self] >= _RANK[other]


_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}
