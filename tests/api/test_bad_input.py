"""Bad input gets a clear 4xx naming what is wrong; none of it is a 500."""

from typing import Any

import pytest

from tests import factories
from tests.conftest import Stack


@pytest.fixture
async def running(stack: Stack) -> dict[str, Any]:
    """A started two-step process whose first (internal) step is open."""
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    template = await factories.published_template(
        http, admin, factories.two_step_template(partner["id"])
    )
    opportunity = await factories.opportunity(http, admin)
    response = await http.post(
        "/api/processes",
        json={"template_id": template["id"], "opportunity_id": opportunity["id"]},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    return {"process": response.json(), "partner": partner, "template": template}


def _locs(response: Any) -> list[list[Any]]:
    return [error["loc"] for error in response.json()["detail"]]


async def test_unknown_template_is_refused_naming_template_id(stack: Stack) -> None:
    opportunity = await factories.opportunity(stack.http, stack.admin)
    response = await stack.http.post(
        "/api/processes",
        json={
            "template_id": "6a1f1a64-0000-4000-8000-000000000000",
            "opportunity_id": opportunity["id"],
        },
        headers=stack.admin,
    )
    assert response.status_code == 422
    assert _locs(response) == [["body", "template_id"]]


async def test_unknown_opportunity_is_refused_naming_opportunity_id(
    stack: Stack, running: dict[str, Any]
) -> None:
    response = await stack.http.post(
        "/api/processes",
        json={
            "template_id": running["template"]["id"],
            "opportunity_id": "6a1f1a64-0000-4000-8000-000000000000",
        },
        headers=stack.admin,
    )
    assert response.status_code == 422
    assert _locs(response) == [["body", "opportunity_id"]]


async def test_malformed_body_names_the_field(stack: Stack) -> None:
    response = await stack.http.post(
        "/api/processes",
        json={"template_id": "not-a-uuid", "opportunity_id": 17},
        headers=stack.admin,
    )
    assert response.status_code == 422
    assert ["body", "template_id"] in _locs(response)
    assert ["body", "opportunity_id"] in _locs(response)

    response = await stack.http.post(
        "/api/processes",
        content=b"{not json",
        headers={**stack.admin, "content-type": "application/json"},
    )
    assert response.status_code == 422


async def test_unknown_process_is_404(stack: Stack) -> None:
    response = await stack.http.get(
        "/api/processes/6a1f1a64-0000-4000-8000-000000000000", headers=stack.admin
    )
    assert response.status_code == 404
    response = await stack.http.post(
        "/api/processes/6a1f1a64-0000-4000-8000-000000000000/steps/x/complete",
        json={},
        headers=stack.admin,
    )
    assert response.status_code == 404


async def test_unknown_step_is_404(stack: Stack, running: dict[str, Any]) -> None:
    process_id = running["process"]["id"]
    response = await stack.http.post(
        f"/api/processes/{process_id}/steps/no_such_step/complete", json={}, headers=stack.admin
    )
    assert response.status_code == 404


async def test_completing_a_step_that_is_not_open_is_409(
    stack: Stack, running: dict[str, Any]
) -> None:
    process_id = running["process"]["id"]
    response = await stack.http.post(
        f"/api/processes/{process_id}/steps/installation/complete",
        json={"fields": {"installed_on": "2026-12-11"}},
        headers=stack.admin,
    )
    assert response.status_code == 409
    assert "installation" in response.json()["detail"]
    # Nothing changed: the step is still pending, the first one still open.
    detail = (await stack.http.get(f"/api/processes/{process_id}", headers=stack.admin)).json()
    assert [s["status"] for s in detail["steps"]] == ["active", "pending"]


async def test_completing_someone_elses_step_is_403(stack: Stack, running: dict[str, Any]) -> None:
    """A member who is neither the contact person nor an admin may not finish the contact's step."""
    member = await factories.member(stack.http, stack.admin)
    process_id = running["process"]["id"]
    response = await stack.http.post(
        f"/api/processes/{process_id}/steps/commission_partner/complete",
        json={},
        headers=factories.bearer(member["token"]),
    )
    assert response.status_code == 403
    detail = (await stack.http.get(f"/api/processes/{process_id}", headers=stack.admin)).json()
    assert detail["steps"][0]["status"] == "active"


async def test_missing_or_mistyped_field_is_422_naming_step_and_field(
    stack: Stack, running: dict[str, Any]
) -> None:
    process_id = running["process"]["id"]
    await stack.http.post(
        f"/api/processes/{process_id}/steps/commission_partner/complete",
        json={},
        headers=stack.admin,
    )
    url = f"/api/processes/{process_id}/steps/installation/complete"
    response = await stack.http.post(url, json={"fields": {}}, headers=stack.admin)
    assert response.status_code == 422
    assert "step 'installation', field 'installed_on': required" in response.json()["detail"]
    response = await stack.http.post(
        url, json={"fields": {"installed_on": "11.12.2026"}}, headers=stack.admin
    )
    assert response.status_code == 422
    assert "field 'installed_on'" in response.json()["detail"]


async def test_other_partner_sees_404_and_owner_partner_gets_403_on_internal_step(
    stack: Stack, running: dict[str, Any]
) -> None:
    http, admin = stack.http, stack.admin
    process_id = running["process"]["id"]
    other = await factories.partner(http, admin, name="Andere Firma")
    other_user = await factories.partner_user(http, admin, other["id"])
    response = await http.get(
        f"/api/processes/{process_id}", headers=factories.bearer(other_user["token"])
    )
    assert response.status_code == 404
    own_user = await factories.partner_user(http, admin, running["partner"]["id"])
    own = factories.bearer(own_user["token"])
    detail = (await http.get(f"/api/processes/{process_id}", headers=own)).json()
    assert [s["key"] for s in detail["steps"]] == ["installation"]
    # The customer data the work needs, and no more.
    assert detail["customer"]["name"] == "Jana Becker"
    assert detail["customer"]["address"]["city"] == "Köln"
    assert "email" not in detail["customer"]
    assert detail["timeline"] == [] and detail["temporal_url"] is None
    response = await http.post(
        f"/api/processes/{process_id}/steps/commission_partner/complete", json={}, headers=own
    )
    assert response.status_code == 403


async def test_missing_or_wrong_token_is_401(stack: Stack) -> None:
    assert (await stack.http.get("/api/processes")).status_code == 401
    response = await stack.http.get("/api/processes", headers=factories.bearer("pf_wrong"))
    assert response.status_code == 401


async def test_idempotency_key_makes_a_retried_start_harmless(
    stack: Stack, running: dict[str, Any]
) -> None:
    body = {
        "template_id": running["template"]["id"],
        "opportunity_id": running["process"]["opportunity_id"],
    }
    headers = {**stack.admin, "Idempotency-Key": "crm-retry-42"}
    first = await stack.http.post("/api/processes", json=body, headers=headers)
    second = await stack.http.post("/api/processes", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    listed = await stack.http.get(
        "/api/processes", params={"opportunity_id": body["opportunity_id"]}, headers=stack.admin
    )
    assert listed.json()["count"] == 2  # the fixture's process and this one, not three


async def test_unpublished_template_does_not_start(stack: Stack) -> None:
    partner = await factories.partner(stack.http, stack.admin)
    draft = await factories.created(
        await stack.http.post(
            "/api/process-templates",
            json=factories.two_step_template(partner["id"]),
            headers=stack.admin,
        )
    )
    opportunity = await factories.opportunity(stack.http, stack.admin)
    response = await stack.http.post(
        "/api/processes",
        json={"template_id": draft["id"], "opportunity_id": opportunity["id"]},
        headers=stack.admin,
    )
    assert response.status_code == 409
