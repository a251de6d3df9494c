"""Run the tenantry server for the benchmark: ``python -m bench.serve_tenantry PORT``.

``BENCH_UNSCOPED=1`` switches the ORM scoping off in *this process only*, to measure
what it costs; the library's normal path is untouched.
"""

from __future__ import annotations

import os
import sys

import uvicorn

from tenantry_server.app import create_app
from tenantry_server.settings import Settings


def main() -> None:
    port = int(sys.argv[1])
    if os.environ.get("BENCH_UNSCOPED") == "1":
        from tenantry import scoping

        scoping._enabled = False
    app = create_app(Settings())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
