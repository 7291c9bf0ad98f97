"""Name resolution and HTTP through the cluster's DNS (the test runner makes it the resolver)."""

from __future__ import annotations

import socket
import urllib.request


def resolve(name: str) -> set[str]:
    """The addresses a DNS name resolves to now."""
    return {str(info[4][0]) for info in socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)}


def http_get(host: str, port: int, path: str = "/", timeout: float = 5.0) -> str:
    """The body of ``GET http://host:port/path`` (raises on an HTTP error status)."""
    with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=timeout) as resp:
        return bytes(resp.read()).decode("utf-8", errors="replace")
