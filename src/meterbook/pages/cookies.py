"""The UI's cookies: names, flags (HttpOnly, SameSite=Lax, Secure when configured), headers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from http.cookies import SimpleCookie

REFRESH = "tenantry_refresh"
SID = "meterbook_sid"
TZ = "meterbook_tz"


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    """Names and lifetimes of the session cookies, and whether they need HTTPS."""

    access: str
    access_ttl: timedelta
    refresh_ttl: timedelta
    secure: bool

    def header(self, name: str, value: str, max_age: int) -> str:
        """A ``Set-Cookie`` value; ``max_age=0`` deletes the cookie."""
        jar: SimpleCookie = SimpleCookie()
        jar[name] = value
        morsel = jar[name]
        morsel["path"] = "/"
        morsel["httponly"] = True
        morsel["samesite"] = "Lax"
        morsel["max-age"] = max_age
        if self.secure:
            morsel["secure"] = True
        return morsel.OutputString()

    def session(self, access: str, refresh: str) -> list[str]:
        """Cookies of a signed-in browser: a short access token and a long refresh token."""
        return [
            self.header(self.access, access, int(self.access_ttl.total_seconds())),
            self.header(REFRESH, refresh, int(self.refresh_ttl.total_seconds())),
        ]

    def cleared(self) -> list[str]:
        return [self.header(self.access, "", 0), self.header(REFRESH, "", 0)]


def parse(header: str) -> dict[str, str]:
    """Cookies of a ``Cookie`` request header (malformed pairs are skipped)."""
    cookies: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name:
            cookies.setdefault(name, value)
    return cookies
