"""Per-account login throttling that an attacker cannot turn into a lock-out of the owner.

Three layers, all on the ``limits`` storage (memory, or Redis shared by workers):

1. per IP (``login_rate``, in :mod:`tenantry.web.ratelimit`): one address guessing many accounts;
2. per account *and* IP, exponential back-off: after ``free_failures`` wrong passwords
   from one address for one account, each further failure doubles the wait (1 s, 2 s,
   4 s, ... up to ``max_delay``); a success clears it. Someone else's failures from
   another address never slow the owner down;
3. per account from every address (``account_rate``, looser): many addresses guessing one
   account. It counts failures only, and it does not apply to addresses the account has
   signed in from recently (``known_for``), nor to one that completed a password reset:
   the owner at home, or anyone who can read the owner's mail, always gets through.

Unknown emails are throttled exactly like known ones, so the answers reveal nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from limits import RateLimitItemPerDay, RateLimitItemPerSecond, parse
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from tenantry.errors import RateLimited
from tenantry.metrics import count_rate_limit_refusal
from tenantry.models import normalize_email
from tenantry.web.ratelimit import RateLimits

_FAILURES = RateLimitItemPerDay(1_000_000)  # a counter of failures, forgotten after a day


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    free_failures: int = 5
    max_delay: timedelta = timedelta(minutes=15)
    account_rate: str = "30/hour"
    known_for: timedelta = timedelta(days=30)


class LoginThrottle:
    def __init__(self, limits: RateLimits, policy: LoginPolicy | None = None) -> None:
        self.limits = limits
        self.policy = policy or LoginPolicy()
        self.fixed = FixedWindowRateLimiter(limits.storage)
        self.moving = MovingWindowRateLimiter(limits.storage)
        self.account_item = parse(self.policy.account_rate)
        self.known_item = RateLimitItemPerDay(1_000_000, max(1, self.policy.known_for.days))

    def _failures(self, account: str, ip: str) -> int:
        stats = self.fixed.get_window_stats(_FAILURES, "login-failures", account, ip)
        return _FAILURES.amount - stats.remaining

    def _backoff(self, failures: int) -> RateLimitItemPerSecond | None:
        excess = failures - self.policy.free_failures
        if excess <= 0:
            return None
        delay = min(2 ** (excess - 1), int(self.policy.max_delay.total_seconds()))
        return RateLimitItemPerSecond(1, delay)

    def known(self, account: str, ip: str) -> bool:
        stats = self.fixed.get_window_stats(self.known_item, "login-known", account, ip)
        return stats.remaining < self.known_item.amount

    @contextmanager
    def _storage(self) -> Iterator[bool]:
        """Yields whether to count; a storage failure follows the limits' fail-open policy."""
        if not self.limits.usable():
            yield False
            return
        try:
            yield True
        except RateLimited:
            raise
        except Exception as exc:  # redis ConnectionError, TimeoutError, limits' StorageError
            self.limits.storage_failed(exc)

    def check(self, email: str, ip: str) -> None:
        """Raise :class:`RateLimited` if this account may not be tried from ``ip`` right now."""
        with self._storage() as counting:
            if counting:
                self._check(normalize_email(email), ip)

    def _check(self, account: str, ip: str) -> None:
        backoff = self._backoff(self._failures(account, ip))
        if backoff is not None and not self.fixed.test(backoff, "login-backoff", account, ip):
            reset = self.fixed.get_window_stats(backoff, "login-backoff", account, ip).reset_time
            count_rate_limit_refusal("login-backoff")
            raise RateLimited(
                "too many failed sign-ins for this account; wait a little and try again",
                retry_after=max(1, math.ceil(reset - time.time())),
            )
        if not self.known(account, ip) and not self.moving.test(
            self.account_item, "login-account", account
        ):
            reset = self.moving.get_window_stats(
                self.account_item, "login-account", account
            ).reset_time
            count_rate_limit_refusal("login-account")
            raise RateLimited(
                "too many failed sign-ins for this account from new places; try again later "
                "or reset your password",
                retry_after=max(1, math.ceil(reset - time.time())),
            )

    def failed(self, email: str, ip: str) -> None:
        with self._storage() as counting:
            if counting:
                self._failed(normalize_email(email), ip)

    def _failed(self, account: str, ip: str) -> None:
        self.fixed.hit(_FAILURES, "login-failures", account, ip)
        backoff = self._backoff(self._failures(account, ip))
        if backoff is not None:  # a fresh window of the new length starts now
            self.fixed.hit(backoff, "login-backoff", account, ip)
        if not self.known(account, ip):  # the owner's typos at home spend none of it
            self.moving.hit(self.account_item, "login-account", account)

    def succeeded(self, email: str, ip: str) -> None:
        """Clear the back-off of this account and address, and remember the address."""
        with self._storage() as counting:
            if counting:
                account = normalize_email(email)
                self.fixed.clear(_FAILURES, "login-failures", account, ip)
                self.fixed.hit(self.known_item, "login-known", account, ip)
