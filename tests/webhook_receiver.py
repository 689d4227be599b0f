"""A webhook receiver on this machine (http.server on a free port): it records every POST and
answers each path with the statuses it is told, in order, then 200."""

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int


class Receiver:
    def __init__(self, port: int, scheme: str = "http") -> None:
        self.port = port
        self.scheme = scheme
        # the server names TLS clients asked for (SNI)
        self.server_names: list[str | None] = []
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._answers: dict[str, list[int]] = {}

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/{path}"

    def answer(self, path: str, *statuses: int) -> None:
        """The next POSTs to `/path` are answered with these statuses, then with 200."""
        with self._lock:
            self._answers[f"/{path}"] = list(statuses)

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self._received if r.path == f"/{path}"]

    def take(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        with self._lock:
            waiting = self._answers.get(path) or []
            status = waiting.pop(0) if waiting else 200
            self._received.append(Received(path, headers, body, status))
            return status


@contextmanager
def running_receiver(tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    """On a free port; with `tls` (a server context) it speaks https."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    receiver = Receiver(server.server_address[1], "https" if tls else "http")
    server.receiver = receiver  # type: ignore[attr-defined]
    if tls is not None:
        tls.sni_callback = lambda _socket, name, _context: receiver.server_names.append(name)
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        receiver: Receiver = self.server.receiver  # type: ignore[attr-defined]
        status = receiver.take(self.path, body, {k.lower(): v for k, v in self.headers.items()})
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass
