"""Worker processes that each listen on a socket of their own (``SO_REUSEPORT``).

uvicorn's workers share one listening socket, and whichever wakes first accepts every
connection waiting: with clients that keep their connections open (a proxy's pool, a
load generator, browsers), one worker served most of them. Measured here with
``tenantry serve --workers 2`` and 32 keep-alive connections: 29 on one worker, 3 on
the other, so the second worker added little. On Linux each worker binds its own
socket to the same address with ``SO_REUSEPORT``, and the kernel spreads new
connections over them. uvicorn's supervisor still starts, checks, restarts and stops
the workers; only the socket each one serves on is its own. Elsewhere (no such
option, or another kernel's meaning of it), the shared socket stays. A worker that
dies closes its socket: the connections still queued on it are reset, the others'
sockets go on accepting, and the supervisor starts a new worker.
"""

from __future__ import annotations

import socket
import sys

from uvicorn import Config, Server
from uvicorn.supervisors import multiprocess


def spreads_connections() -> bool:
    """Whether this system balances connections over sockets sharing a port (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def own_socket(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` that other workers' sockets may share."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class _OwnSocketServer(Server):
    def run(self, sockets: list[socket.socket] | None = None) -> None:
        super().run(sockets=[own_socket(self.config.host, self.config.port)])


class _OwnSocketProcess(multiprocess.Process):
    """A worker that serves on a socket it binds itself, not the supervisor's."""

    @property
    def server(self) -> Server:
        if self._server is None:
            self._server = _OwnSocketServer(config=self.config)
        return self._server


def check_free(host: str, port: int) -> None:
    """Bind the address once without ``SO_REUSEPORT``: an error if anything listens there.

    Sockets that all set the option share a port: without this check, a second server
    started by the same user would quietly take half of the first one's connections.

    Raises:
        OSError: the address is in use (or cannot be bound).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT only
        probe.bind((host, port))


def run_workers(config: Config) -> None:
    """Run ``config.workers`` processes under uvicorn's supervisor, each on a socket of its
    own where the system spreads connections over them (:func:`spreads_connections`),
    else on the one socket they share (what ``uvicorn.run`` does).

    Raises:
        OSError: the address is in use (or cannot be bound).
    """
    if not spreads_connections() or config.port == 0:  # port 0: a port per worker
        shared = config.bind_socket()
        multiprocess.Multiprocess(config, sockets=[shared]).run()
        return
    check_free(config.host, config.port)
    # The supervisor makes its workers through this module attribute; each worker
    # unpickles a _OwnSocketProcess, which binds its own socket when it runs.
    multiprocess.Process = _OwnSocketProcess  # type: ignore[misc]
    multiprocess.Multiprocess(config, sockets=[]).run()
