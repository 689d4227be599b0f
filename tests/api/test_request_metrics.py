"""The API's request metrics, without servers: each request counted once under its route's
template and the status the client got, a failure as a 500, a path no route has as `unmatched`."""

import httpx
from fastapi import FastAPI

from api.metrics import ApiMetrics, CountRequests


def _counted(metrics: ApiMetrics, route: str, method: str, code: str) -> float:
    value = metrics.registry.get_sample_value(
        "partnerflow_http_requests_total", {"route": route, "method": method, "status": code}
    )
    return value or 0.0


async def test_each_request_is_counted_by_route_template_and_status() -> None:
    app = FastAPI()
    app.state.metrics = metrics = ApiMetrics()
    app.add_middleware(CountRequests)

    @app.get("/things/{thing_id}")
    def thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    @app.post("/broken")
    def broken() -> None:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.get("/things/1")).status_code == 200
        assert (await http.get("/things/2")).status_code == 200
        assert (await http.get("/things/x")).status_code == 422
        assert (await http.post("/broken")).status_code == 500
        assert (await http.get("/nowhere")).status_code == 404

    assert _counted(metrics, "/things/{thing_id}", "GET", "200") == 2
    assert _counted(metrics, "/things/{thing_id}", "GET", "422") == 1
    assert _counted(metrics, "/broken", "POST", "500") == 1
    assert _counted(metrics, "unmatched", "GET", "404") == 1
    count = metrics.registry.get_sample_value(
        "partnerflow_http_request_duration_seconds_count",
        {"route": "/things/{thing_id}", "method": "GET"},
    )
    assert count == 3
