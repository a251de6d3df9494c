"""Where the pages find the cookie policy the plugin installed."""

from __future__ import annotations

from fastapi import Request

from meterbook.pages.cookies import CookiePolicy

STATE_KEY = "meterbook_cookie_policy"


def policy_of(request: Request) -> CookiePolicy:
    policy: CookiePolicy = getattr(request.app.state, STATE_KEY)
    return policy
