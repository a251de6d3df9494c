"""A free TCP port on localhost for a server a test starts.

The kernel hands out a port nobody listens on; it is released before the server binds it,
and it does not hand the same one out again at once, so parallel test workers do not collide.
"""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
