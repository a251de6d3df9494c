"""Which Redis URLs the library takes, and how ``limits`` spells a unix socket."""

from __future__ import annotations

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def check_redis_url(url: str) -> None:
    """Refuse a URL that no Redis client here reads, before anything is built with it.

    Raises:
        ValueError: naming the schemes taken (``limits`` would fail later, deep in app
            construction, with ``unknown storage scheme``).
    """
    if not url.startswith(REDIS_SCHEMES):
        raise ValueError(
            f"{url!r} is not a Redis URL: use redis://host:port/db, rediss://… (TLS)"
            " or unix:///path/to/redis.sock"
        )


def limits_storage_url(url: str) -> str:
    """``url`` for ``limits.storage.storage_from_string``: redis-py's ``unix://`` socket
    URL is ``redis+unix://`` there; every other URL is the same."""
    if url.startswith("unix://"):
        return "redis+" + url
    return url
