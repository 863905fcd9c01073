"""TCP port helpers for local services."""

from __future__ import annotations

import socket

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel considers free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_bindable(host: str, port: int) -> bool:
    """True when a listener could bind ``host:port`` (a bound but idle socket makes it False)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def is_local_host(host: str | None) -> bool:
    """True for loopback host names greenmon may start services for."""
    return host is not None and host.lower() in LOCAL_HOSTS
