"""Prometheus metrics of the API: requests by route and status, and their latency."""

import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)


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
