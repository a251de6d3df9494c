"""Server settings: the signing key is generated once, kept private, and weak keys refused."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from tenantry_server.settings import Settings


def test_signing_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).signing_key()
    assert len(first) >= 48
    assert Settings(data_dir=tmp_path).signing_key() == first
    mode = stat.S_IMODE((tmp_path / "secret.key").stat().st_mode)
    assert mode == 0o600


def test_configured_key_wins(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, secret_key="c" * 40).signing_key() == "c" * 40
    assert not (tmp_path / "secret.key").exists()


@pytest.mark.parametrize("weak", ["changeme", "secret", "short-key"])
def test_weak_keys_are_refused(weak: str) -> None:
    with pytest.raises(ValidationError, match="32"):
        Settings(secret_key=weak)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_body_bytes", -5),
        ("max_body_bytes", 0),
        ("metrics_tenant_limit", -1),
        ("activity_flush_seconds", 0),
    ],
)
def test_numbers_that_would_break_every_request_are_refused_at_start(name: str, value: int) -> None:
    """``TENANTRY_MAX_BODY_BYTES=-5`` started a server that refused every sign-in (413)."""
    with pytest.raises(ValidationError, match=name):
        Settings(**{name: value})


def test_links_in_mails_point_at_the_public_url_or_the_served_address() -> None:
    assert Settings(port=9000).site_url() == "http://127.0.0.1:9000"
    assert Settings(public_url="https://meter.example/").site_url() == "https://meter.example"


def test_an_unreadable_smtp_url_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="smtp://host"):
        Settings(smtp_url="mail.example.com:25")
    assert Settings(smtp_url="smtps://mail.example.com").smtp_url == "smtps://mail.example.com"


def test_the_tenant_cache_is_shared_by_every_worker_unless_told_otherwise(tmp_path: Path) -> None:
    # Without Redis: a directory in data_dir, which every worker process of the machine opens.
    assert Settings(data_dir=tmp_path).cache_location() == f"file://{tmp_path.resolve()}/cache"
    assert Settings(redis_url="redis://r:6379/0").cache_location() is None  # Redis decides
    chosen = Settings(redis_url="redis://r:6379/0", cache_url="memory://")
    assert chosen.cache_location() == "memory://"


def test_an_unreadable_cache_url_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="file://<directory>"):
        Settings(cache_url="/var/cache/tenantry")


def test_a_worker_board_that_cannot_be_made_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="No such file or directory"):
        Settings(worker_board=tmp_path / "missing" / "workers.board")
    board = tmp_path / "workers.board"
    assert Settings(worker_board=board).worker_board == board
    assert board.exists()
