"""Run the tenantry server for the benchmark: ``python -m bench.serve_tenantry PORT``."""

from __future__ import annotations

import sys

import uvicorn

from tenantry_server.app import create_app
from tenantry_server.settings import Settings


def main() -> None:
    port = int(sys.argv[1])
    app = create_app(Settings())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
