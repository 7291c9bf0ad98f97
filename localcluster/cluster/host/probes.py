"""Readiness probes of the components and a deadline-bound wait (no bare sleeps)."""

from __future__ import annotations

import http.client
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype


class NotReadyError(RuntimeError):
    """A component did not become ready before its deadline."""


def wait_for(check: Callable[[], str | None], *, timeout: float, what: str,
             abort: Callable[[], str | None] | None = None, interval: float = 0.25) -> None:
    """Poll ``check`` (None = ready, else a reason) until ready; raise ``NotReadyError`` at the deadline.

    ``abort`` is polled too: a non-None answer (e.g. "process exited") fails at once.
    """
    deadline = time.monotonic() + timeout
    reason = "not checked yet"
    while True:
        try:
            outcome = check()
        except Exception as err:
            outcome = f"{type(err).__name__}: {err}"
        if outcome is None:
            return
        reason = outcome
        if abort is not None:
            fatal = abort()
            if fatal is not None:
                raise NotReadyError(f"{what}: {fatal} (last probe: {reason})")
        if time.monotonic() >= deadline:
            raise NotReadyError(f"{what}: not ready after {timeout:.0f}s (last probe: {reason})")
        time.sleep(interval)


def https_get(host: str, port: int, path: str, *, ca: Path | None = None, cert: Path | None = None,
              key: Path | None = None, timeout: float = 3.0) -> tuple[int, str]:
    """GET over TLS; verifies against ``ca`` when given (else no verification, for self-signed)."""
    if ca is not None:
        context = ssl.create_default_context(cafile=str(ca))
        context.check_hostname = False
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert is not None and key is not None:
        context.load_cert_chain(str(cert), str(key))
    return _get(http.client.HTTPSConnection(host, port, context=context, timeout=timeout), path)


def http_get(host: str, port: int, path: str, *, timeout: float = 3.0) -> tuple[int, str]:
    """Plain GET."""
    return _get(http.client.HTTPConnection(host, port, timeout=timeout), path)


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[int, str]:
    """GET ``path`` on an unopened connection; status and body, the connection closed after."""
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def expect_ok(result: tuple[int, str], want: str | None = None) -> str | None:
    """None when the response is 200 (and contains ``want``), else a reason."""
    status, body = result
    if status == 200 and (want is None or want in body):
        return None
    return f"HTTP {status}: {body.strip()[:200]}"


def dns_a(server: str, name: str, *, timeout: float = 2.0) -> list[str]:
    """A records of ``name`` asked directly from ``server`` (UDP)."""
    query = dns.message.make_query(name, dns.rdatatype.A)
    response = dns.query.udp(query, server, timeout=timeout)
    if response.rcode() != dns.rcode.NOERROR:
        raise LookupError(f"{name}: {dns.rcode.to_text(response.rcode())}")
    return sorted(str(r) for rrset in response.answer for r in rrset if r.rdtype == dns.rdatatype.A)


def dns_answers(server: str, name: str, want: str) -> str | None:
    """None when ``server`` resolves ``name`` to ``want``, else a reason."""
    try:
        got = dns_a(server, name)
    except (dns.exception.DNSException, LookupError, OSError) as err:
        return f"{type(err).__name__}: {err}"
    return None if want in got else f"{name} -> {got}"


def unix_socket_accepts(path: Path) -> str | None:
    """None when something accepts connections on the unix socket ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        try:
            sock.connect(str(path))
        except OSError as err:
            return f"{path}: {err.strerror}"
    return None


def command_ok(argv: list[str]) -> str | None:
    """None when the command exits 0, else its stderr."""
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
                          timeout=20)
    return None if proc.returncode == 0 else (proc.stderr.strip() or f"exit {proc.returncode}")[-300:]
