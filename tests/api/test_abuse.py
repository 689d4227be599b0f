"""Abuse: oversized bodies, deep nesting, huge strings, odd Unicode, SQL-looking strings.

Each is a 4xx, never a 500, and what was stored before is still there afterwards.
"""

import json
from typing import Any

import pytest

from tests import factories
from tests.conftest import Stack

NASTY_STRINGS = [
    "'; DROP TABLE opportunity; --",
    '" OR 1=1 --',
    "Robert'); DELETE FROM \"user\" WHERE ('1'='1",
    "\u0000nul",
    "\ud800 lone surrogate",
    "\u202eevil right-to-left",
    "Z̸̡̢͓̫͍a̵l̷g̶o̴",
    "😀" * 50,
    "%s%s%s%n",
    "${jndi:ldap://example.invalid/a}",
    "{{ 7*7 }}",
]


async def _opportunities(stack: Stack) -> list[dict[str, Any]]:
    response = await stack.http.get(
        "/api/opportunities", params={"limit": 500}, headers=stack.admin
    )
    data: list[dict[str, Any]] = response.json()["data"]
    return data


@pytest.mark.parametrize("text", NASTY_STRINGS)
async def test_odd_strings_are_stored_as_text_or_refused(stack: Stack, text: str) -> None:
    before = await factories.opportunity(stack.http, stack.admin)
    # Escaped JSON, as a client in another language would send a lone surrogate.
    body = json.dumps({"title": text, "customer": {"name": text}, "attributes": {"note": text}})
    response = await stack.http.post(
        "/api/opportunities",
        content=body.encode(),
        headers={**stack.admin, "content-type": "application/json"},
    )
    assert response.status_code in (201, 422), response.text
    stored = await _opportunities(stack)
    assert before["id"] in [o["id"] for o in stored]
    if response.status_code == 201:
        again = await stack.http.get(
            f"/api/opportunities/{response.json()['id']}", headers=stack.admin
        )
        assert again.json()["title"] == text
        assert len(stored) == 2
    else:
        assert len(stored) == 1


async def test_huge_strings_are_refused(stack: Stack) -> None:
    response = await stack.http.post(
        "/api/opportunities",
        json={"title": "x" * 100_000, "customer": {"name": "y"}},
        headers=stack.admin,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "title"]


async def test_oversized_bodies_are_refused(stack: Stack) -> None:
    body = b'{"title": "' + b"x" * (3 * 1024 * 1024) + b'", "customer": {"name": "y"}}'
    response = await stack.http.post(
        "/api/opportunities",
        content=body,
        headers={**stack.admin, "content-type": "application/json"},
    )
    assert response.status_code == 413


async def test_deeply_nested_json_is_refused(stack: Stack) -> None:
    depth = 100_000
    body = (
        '{"title": "t", "customer": {"name": "n"}, "attributes": {"a": '
        + "[" * depth
        + "]" * depth
        + "}}"
    )
    response = await stack.http.post(
        "/api/opportunities",
        content=body.encode(),
        headers={**stack.admin, "content-type": "application/json"},
    )
    assert 400 <= response.status_code < 500
    assert await _opportunities(stack) == []


async def test_odd_ids_and_query_values_are_4xx(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    for url in (
        "/api/processes/' OR 1=1 --",
        "/api/processes/%00",
        "/api/process-templates/../../etc/passwd",
        "/api/processes?limit=-1",
        "/api/processes?limit=100000",
        "/api/processes?status=%27%3B%20DROP",
        "/api/outbox?to=%27%20OR%201%3D1%20--",
    ):
        response = await http.get(url, headers=admin)
        assert 400 <= response.status_code < 500 or response.status_code == 200, url
        assert response.status_code != 500
    outbox = await http.get("/api/outbox", params={"to": "' OR 1=1 --"}, headers=admin)
    assert outbox.json()["count"] == 0
