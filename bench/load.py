"""The load generator: ``wrk`` (a separate process), installed from Debian when absent."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

# Each request takes the next token of the list, so the load rotates over many tenants,
# and the next path of its list when there is one (else the URL's own).
GET_LUA = """
local tokens = {{TOKENS}}
local paths = {{PATHS}}
local counter = 0
function init(args)
  wrk.method = "GET"
end
function request()
  counter = counter + 1
  wrk.headers["Authorization"] = "Bearer " .. tokens[(counter % #tokens) + 1]
  if #paths > 0 then
    return wrk.format(nil, paths[(counter % #paths) + 1], nil, nil)
  end
  return wrk.format(nil, nil, nil, nil)
end
"""

# Each thread writes its own time range, so readings stay in order across threads; each
# run (RUN_BASE) has its own range too, so several runs can write to one tenant. Times
# start at 2000-01-01 (before every generated reading) and the meter rises 1 Wh a second,
# staying below the fixtures' first reading (20,000 kWh). ``thread_no`` is the global
# that ``setup()`` sets in each thread's interpreter: declaring it ``local`` here would
# hide that value and give every thread the same timestamps (422s).
POST_LUA = """
local counter = 0
local base = 946684800
local next_id = 0
thread_no = 0
function setup(thread)
  thread:set("thread_no", next_id)
  next_id = next_id + 1
end
function init(args)
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer {TOKEN}"
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  counter = counter + 1
  local offset = {RUN_BASE} + thread_no * 20000 + counter
  local at = os.date("!%Y-%m-%dT%H:%M:%SZ", base + offset)
  local body = string.format('{"read_at":"%s","meter_kwh":"%d.%03d"}', at,
    math.floor(offset / 1000), offset % 1000)
  return wrk.format(nil, nil, nil, body)
end
"""

_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
_post_runs = 0


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    cmd = ["apt-get", "install", "-y", "wrk"]
    if shutil.which("sudo"):
        cmd = ["sudo", "-n", *cmd]
    subprocess.run(cmd, check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and could not be installed")
    return found


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * _UNIT[m.group(2)]


def get_script(tokens: Sequence[str], paths: Sequence[str] = ()) -> str:
    """GETs rotating over ``tokens`` (and over ``paths``, when given, instead of the URL's)."""
    quoted = {"{TOKENS}": tokens, "{PATHS}": paths}
    script = GET_LUA
    for mark, items in quoted.items():
        script = script.replace(mark, ", ".join(f'"{item}"' for item in items))
    return script


def post_script(token: str) -> str:
    """A POST script whose time range no other run of this process uses (at most 90).

    Each run owns 200,000 seconds, each of up to 10 wrk threads 20,000 of them: a
    2-second round at the bare stack's ~4,000 POSTs a second writes ~4,000 a thread.
    """
    global _post_runs
    _post_runs += 1
    if _post_runs > 90:
        raise RuntimeError("too many POST runs for the fixtures' time range")
    return POST_LUA.replace("{TOKEN}", token).replace("{RUN_BASE}", str(_post_runs * 200_000))


def parse(out: str) -> dict[str, float]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "requests": total,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": sum(int(x) for x in errors.groups()) if errors else 0,
    }


def start_wrk(
    url: str, script: str, *, seconds: float, connections: int, threads: int = 1
) -> tuple[subprocess.Popen[str], Path]:
    """Start wrk in the background; :func:`finish_wrk` collects its figures."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    cmd = [
        ensure_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        f.name,
        url,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, Path(f.name)


def finish_wrk(started: tuple[subprocess.Popen[str], Path], timeout: float) -> dict[str, float]:
    proc, script = started
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        script.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed: {err.strip()[:300]}")
    return parse(out)


def run_wrk(
    url: str, script: str, *, seconds: float, connections: int, threads: int = 1
) -> dict[str, float]:
    """Load ``url`` for ``seconds``: req/s, p50, p99 (ms), non-2xx answers, socket errors."""
    started = start_wrk(url, script, seconds=seconds, connections=connections, threads=threads)
    return finish_wrk(started, seconds + 30)
