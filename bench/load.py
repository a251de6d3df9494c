"""The load generator: ``wrk`` (a separate process), installed from Debian when absent."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

GET_LUA = """
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer {token}"
"""

# Each thread writes its own time range, so readings stay in order across threads:
# times from 2000-01-01 (before every generated reading), meter rising with time.
POST_LUA = """
local counter = 0
local base = 946684800
local thread_no = 0
local next_id = 0
function setup(thread)
  thread:set("thread_no", next_id)
  next_id = next_id + 1
end
function init(args)
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer {token}"
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  counter = counter + 1
  local offset = thread_no * 5000000 + counter
  local at = os.date("!%Y-%m-%dT%H:%M:%SZ", base + offset)
  local body = string.format('{{"read_at":"%s","meter_kwh":"%d.%03d"}}', at,
    math.floor(offset / 1000), offset % 1000)
  return wrk.format(nil, nil, nil, body)
end
"""

_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


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


def run_wrk(
    url: str, token: str, *, post: bool, seconds: int, connections: int, threads: int = 1
) -> dict[str, float]:
    """Load ``url`` for ``seconds``; req/s, p50, p99 (ms), and how many non-2xx answers."""
    script = (POST_LUA if post else GET_LUA).replace("{token}", token)
    script = script.replace("{{", "{").replace("}}", "}")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            [
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
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=seconds + 30,
        ).stdout
    finally:
        Path(f.name).unlink()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "requests": total,
        "non_2xx": int(bad.group(1)) if bad else 0,
    }
