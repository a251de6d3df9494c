"""``python -m bench.multiworker APP PORT WORKERS [--factory]``: uvicorn workers on sockets
of their own, as ``tenantry serve --workers`` runs them.

The bench compares tenantry at two workers with the bare stack and the hand-written app
at two workers. Under ``uvicorn --workers`` those share one listening socket, whose first
worker to wake accepts every connection wrk opens at once: their second worker would sit
idle while tenantry's served half the load. Every multi-worker server of the bench runs
through this module, so the rows compare the same process layout.
"""

from __future__ import annotations

import sys

import uvicorn

from tenantry_server.workers import run_workers


def main(argv: list[str]) -> None:
    app, port, workers = argv[0], int(argv[1]), int(argv[2])
    config = uvicorn.Config(
        app,
        factory="--factory" in argv[3:],
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )
    run_workers(config)


if __name__ == "__main__":
    main(sys.argv[1:])
