"""The heat-pump example through the HTTP API: a grid operator registration only above 12 kW,
a scaffold only when the roof survey says one is needed. A step whose condition is false is
`not_applicable`: it counts as done for what follows, and sends nothing."""

import uuid
from typing import Any

import pytest

from tests import factories
from tests.conftest import Stack, eventually


def heat_pump_template(partner_id: str) -> dict[str, Any]:
    """Survey; then the grid registration (above 12 kW) and the scaffold (if the survey says
    so), both before the installation."""
    partner = {"type": "partner", "partner_id": partner_id}
    return {
        "name": f"Heat pump {uuid.uuid4().hex[:6]}",
        "steps": [
            {
                "key": "survey",
                "name": "Roof survey",
                "assignee": partner,
                "fields": [
                    {
                        "key": "scaffold_needed",
                        "label": "Scaffold needed",
                        "type": "boolean",
                        "required": True,
                    }
                ],
            },
            {
                "key": "grid_registration",
                "name": "Grid operator registration",
                "requires": ["survey"],
                "assignee": {"type": "contact"},
                "when": {
                    "all": [{"field": "opportunity.attributes.power_kw", "op": "gt", "value": 12}]
                },
            },
            {
                "key": "scaffold",
                "name": "Scaffold",
                "requires": ["survey"],
                "assignee": partner,
                "when": {
                    "all": [
                        {"field": "fields.survey.scaffold_needed", "op": "equals", "value": True}
                    ]
                },
            },
            {
                "key": "installation",
                "name": "Installation",
                "requires": ["grid_registration", "scaffold"],
                "assignee": partner,
            },
        ],
    }


@pytest.fixture
async def heat_pump(stack: Stack) -> dict[str, Any]:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin, name="Wärme & Co KG")
    await factories.granted(http, admin, partner["id"], "steps:complete")
    template = await factories.published_template(http, admin, heat_pump_template(partner["id"]))
    return {
        "template_id": template["id"],
        "partner": partner,
        "headers": factories.bearer(partner["owner_token"]),
    }


async def _started(stack: Stack, template_id: str, power_kw: float) -> dict[str, Any]:
    http, admin = stack.http, stack.admin
    opportunity = await factories.created(
        await http.post(
            "/api/opportunities",
            json={
                "title": "Wärmepumpe Familie Becker",
                "customer": {
                    "name": "Jana Becker",
                    "address": {"street": "Lindenweg 4", "postal_code": "50667", "city": "Köln"},
                },
                "product": "heat_pump",
                "attributes": {"power_kw": power_kw},
            },
            headers=admin,
        )
    )
    return await factories.started(http, admin, template_id, opportunity_id=opportunity["id"])


async def _survey(
    stack: Stack, process_id: str, headers: dict[str, str], scaffold_needed: bool
) -> dict[str, Any]:
    response = await stack.http.post(
        f"/api/processes/{process_id}/steps/survey/complete",
        json={"fields": {"scaffold_needed": scaffold_needed}},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    detail: dict[str, Any] = response.json()
    return detail


def _statuses(detail: dict[str, Any]) -> dict[str, str]:
    return {s["key"]: s["status"] for s in detail["steps"]}


async def test_small_pump_without_scaffold_goes_straight_to_installation(
    stack: Stack, heat_pump: dict[str, Any]
) -> None:
    http, admin = stack.http, stack.admin
    process = await _started(stack, heat_pump["template_id"], 9)
    assert _statuses(process)["survey"] == "active"
    await _survey(stack, process["id"], heat_pump["headers"], scaffold_needed=False)

    detail = (await http.get(f"/api/processes/{process['id']}", headers=admin)).json()
    assert _statuses(detail) == {
        "survey": "completed",
        "grid_registration": "not_applicable",
        "scaffold": "not_applicable",
        "installation": "active",
    }
    skipped = [e["step_key"] for e in detail["timeline"] if e["event"] == "step_not_applicable"]
    assert sorted(skipped) == ["grid_registration", "scaffold"]
    tasks = (await http.get("/api/my/tasks", headers=heat_pump["headers"])).json()["data"]
    assert [t["step_key"] for t in tasks] == ["installation"]

    # Nothing went out for the steps that did not apply: hand-overs for the survey and the
    # installation (e-mails go out in order: one for the scaffold would have come before).
    async def handovers() -> list[str]:
        response = await http.get(
            "/api/outbox", params={"process_id": process["id"], "kind": "handover"}, headers=admin
        )
        return sorted(e["subject"] for e in response.json()["data"])

    subjects = await eventually(handovers, lambda found: len(found) >= 2)
    assert [s.split(":")[1].split("–")[0].strip() for s in subjects] == [
        "Installation",
        "Roof survey",
    ]


async def test_big_pump_with_scaffold_registers_and_builds_the_scaffold_first(
    stack: Stack, heat_pump: dict[str, Any]
) -> None:
    http, admin = stack.http, stack.admin
    process = await _started(stack, heat_pump["template_id"], 14)
    detail = await _survey(stack, process["id"], heat_pump["headers"], scaffold_needed=True)
    # the partner's view: its own steps; the registration is the contact person's
    assert _statuses(detail) == {
        "survey": "completed",
        "scaffold": "active",
        "installation": "pending",
    }
    detail = (await http.get(f"/api/processes/{process['id']}", headers=admin)).json()
    assert _statuses(detail)["grid_registration"] == "active"
    assert _statuses(detail)["installation"] == "pending"

    response = await http.post(
        f"/api/processes/{process['id']}/steps/grid_registration/complete", json={}, headers=admin
    )
    assert response.status_code == 200, response.text
    assert _statuses(response.json())["installation"] == "pending"  # the scaffold is not up yet
    response = await http.post(
        f"/api/processes/{process['id']}/steps/scaffold/complete",
        json={},
        headers=heat_pump["headers"],
    )
    assert response.status_code == 200, response.text
    assert _statuses(response.json())["installation"] == "active"


async def test_big_pump_without_scaffold_registers_then_installs(
    stack: Stack, heat_pump: dict[str, Any]
) -> None:
    http, admin = stack.http, stack.admin
    process = await _started(stack, heat_pump["template_id"], 14)
    await _survey(stack, process["id"], heat_pump["headers"], scaffold_needed=False)
    detail = (await http.get(f"/api/processes/{process['id']}", headers=admin)).json()
    assert _statuses(detail) == {
        "survey": "completed",
        "grid_registration": "active",
        "scaffold": "not_applicable",
        "installation": "pending",
    }
    response = await http.post(
        f"/api/processes/{process['id']}/steps/grid_registration/complete", json={}, headers=admin
    )
    assert response.status_code == 200, response.text
    assert _statuses(response.json())["installation"] == "active"
