"""The core's refusals in a household's words, from their codes and structured details.

tenantry speaks of tenants, roles and byte limits; meterbook's pages speak of
households, owners and files. Words are chosen here from a problem's ``code`` and
``details``, never by rewriting the core's message text.
"""

from __future__ import annotations

from tenantry.web import Problem


def _size(limit: int) -> str:
    for unit, factor in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if limit >= factor and limit % factor == 0:
            return f"{limit // factor} {unit}"
    return f"{limit:,} bytes"


# The same words whether the household exists or not: a page must not tell a guessed
# address from a household one was removed from.
_HOUSEHOLD = {
    "tenant_not_found": (
        "This is not one of your households: it may have been deleted, or you are no "
        "longer a member of it."
    ),
    "tenant_deleted": (
        "This household was deleted. For a while, an owner can still restore it from "
        "their account page."
    ),
}


def household_words(problem: Problem) -> str:
    """What a page says of ``problem``: meterbook's words where it has them, else the core's."""
    details = problem.details if isinstance(problem.details, dict) else {}
    if problem.code == "payload_too_large":
        limit = details.get("limit_bytes")
        size = _size(limit) if isinstance(limit, int) else "the limit"
        return (
            f"What you sent is larger than {size}, the most meterbook takes at once. "
            "Split a long CSV file into smaller ones and import them one after another."
        )
    if problem.code == "quota_exceeded":
        return _quota(details) or problem.message
    if problem.code in _HOUSEHOLD:
        return _HOUSEHOLD[problem.code]
    if problem.code == "too_many_tenants":
        return (
            f"You own {details.get('limit')} households, the most one account may: delete "
            "one, or make another member its owner, before you create another."
        )
    if problem.code == "conflict" and details.get("reason") == "last_owner":
        return (
            "You are this household's only owner: make another member an owner before you "
            "leave, or delete the household."
        )
    return problem.message


def _noun(limit: object) -> str:
    """``members``, ``rows.readings`` → members, readings."""
    return str(limit).partition(".")[2] or str(limit)


def _quota(details: dict[str, object]) -> str | None:
    allowed, current = details.get("allowed"), details.get("current")
    if not isinstance(allowed, int) or not isinstance(current, int):
        return None
    plan = details.get("plan") or "its"
    if details.get("limit") == "members":
        return (
            f"This household is full: the {plan} plan allows {allowed:,} members. "
            "Its owner can remove a member or choose a bigger plan."
        )
    more = f" The {details['lifted_by']} plan allows more." if details.get("lifted_by") else ""
    return (
        f"The {plan} plan allows {allowed:,} {_noun(details.get('limit'))}; "
        f"this household has {current:,}.{more}"
    )
