"""The disk cache's shared-memory counters: seen across processes, never repeated."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tenantry.cache.counters import WORDS, SharedCounters

KEY = "tenantry:cache:tenant-a:tag:readings"
OTHER = "tenantry:cache:tenant-b:tag:readings"


def _bump_in_another_process(path: Path, key: str, times: int = 1) -> None:
    code = (
        "import sys; from pathlib import Path; from tenantry.cache.counters import SharedCounters;"
        "c = SharedCounters(Path(sys.argv[1]));"
        "[c.bump(sys.argv[2]) for _ in range(int(sys.argv[3]))]"
    )
    subprocess.run([sys.executable, "-c", code, str(path), key, str(times)], check=True)


def test_a_bump_in_another_process_is_seen_here_at_once(tmp_path: Path) -> None:
    counters = SharedCounters(tmp_path / "counters")
    (before,) = counters.read([KEY])
    _bump_in_another_process(tmp_path / "counters", KEY)
    (after,) = counters.read([KEY])
    assert after != before
    assert counters.read([OTHER]) == SharedCounters(tmp_path / "counters").read([OTHER])
    counters.close()


def test_a_version_never_comes_back(tmp_path: Path) -> None:
    # An entry stored under a version must stay unreachable after any later bump.
    counters = SharedCounters(tmp_path / "counters")
    seen = set(counters.read([KEY]))
    for _ in range(2000):
        counters.bump(KEY)
        (version,) = counters.read([KEY])
        assert version not in seen
        seen.add(version)
    counters.close()


def test_a_bump_changes_only_its_own_key(tmp_path: Path) -> None:
    counters = SharedCounters(tmp_path / "counters")
    (other,) = counters.read([OTHER])
    counters.bump(KEY)
    assert counters.read([OTHER]) == [other]
    counters.close()


def test_a_file_made_again_gives_back_no_earlier_version(tmp_path: Path) -> None:
    # Entries keyed by the old file's versions (still on disk until their TTL) must not
    # become current again when the counters file is deleted and made anew.
    path = tmp_path / "counters"
    counters = SharedCounters(path)
    old = counters.read([KEY, OTHER])
    counters.close()
    path.unlink()
    again = SharedCounters(path)
    assert set(again.read([KEY, OTHER])).isdisjoint(old)
    again.close()


@pytest.mark.parametrize("size", [19, 16 + 8 * WORDS], ids=["short", "full size"])
def test_a_file_that_is_not_ours_is_started_afresh(tmp_path: Path, size: int) -> None:
    # Whatever it held is no version of ours: every counter starts from nothing.
    path = tmp_path / "counters"
    path.write_bytes(b"\xff" * size)
    counters = SharedCounters(path)
    epoch = counters.read([KEY])[0].split(b"-")[0]
    assert counters.read([KEY, OTHER]) == [epoch + b"-0", epoch + b"-0"]
    counters.bump(KEY)
    assert counters.read([KEY]) != [epoch + b"-0"]
    assert SharedCounters(path).read([KEY]) == counters.read([KEY])
    counters.close()


def test_an_unusable_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cache counters .*missing.*: No such file"):
        SharedCounters(tmp_path / "missing" / "counters")
