"""Prometheus metrics of the API: requests by route and status, and their latency.

They are not for the public: served on a port of their own (`PARTNERFLOW_METRICS_PORT`),
and on the API's port only to a scraper that shows the metrics token.
"""

import hmac
import time
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request, Response, status
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from pydantic import SecretStr


class ApiMetrics:
    def __init__(self) -> None:
        # A registry per app: several apps in one process (the tests) keep their own counts.
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "partnerflow_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "partnerflow_http_request_duration_seconds",
            "HTTP request latency by route template and method",
            ["route", "method"],
            registry=self.registry,
        )

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            # The template, not the path: ids would make every process a series of its own.
            template = getattr(route, "path", "unmatched")
            self.requests.labels(template, request.method, str(status)).inc()
            self.latency.labels(template, request.method).observe(time.perf_counter() - started)

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    def render_for(self, authorization: str | None, token: SecretStr | None) -> Response:
        """The metrics, for a bearer of the metrics token; anyone else finds nothing here."""
        expected = token.get_secret_value() if token else ""
        scheme, _, given = (authorization or "").partition(" ")
        if (
            not expected
            or scheme.lower() != "bearer"
            or not hmac.compare_digest(given.strip().encode(), expected.encode())
        ):
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Not Found")
        return self.render()

    def serve(self, port: int) -> Callable[[], None]:
        """Serve the metrics on a port of their own, in a thread; answers how to stop."""
        server, thread = start_http_server(port, registry=self.registry)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join()

        return stop
