"""The process builder: every validation rule, lifecycle, versions and duplication over the API."""

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests import factories
from tests.conftest import Stack

UNKNOWN = "6a1f1a64-0000-4000-8000-000000000000"
Steps = list[dict[str, Any]]


def appointment_template(partner_id: str) -> dict[str, Any]:
    """The article's partner process: agree the appointment, install on that date, invoice."""
    return {
        "name": "PV-Installation",
        "language": "de",
        "steps": [
            {"key": "commission", "name": "Partner beauftragen", "assignee": {"type": "contact"}},
            {
                "key": "agree_appointment",
                "name": "Termin vereinbaren",
                "assignee": {"type": "partner", "partner_id": partner_id},
                "fields": [
                    {
                        "key": "installation_date",
                        "label": "Termin",
                        "type": "date",
                        "required": True,
                    }
                ],
                "deadline": {"business_days": 5, "from": "activation", "region": "DE-NW"},
                "reminders": ["P1D"],
            },
            {
                "key": "installation",
                "name": "Installation",
                "assignee": {"type": "partner", "partner_id": partner_id},
                "deadline": {
                    "from_field": {"step": "agree_appointment", "field": "installation_date"},
                    "offset": "P1D",
                },
                "escalation": {"notify_contact": True, "grace": "P2D"},
            },
            {
                "key": "invoice",
                "name": "Rechnung hochladen",
                "assignee": {"type": "partner", "partner_id": partner_id},
                "documents": [{"type": "invoice", "label": "Rechnung", "min_count": 1}],
                "deadline": {"after": "P14D"},
            },
        ],
    }


def _at(index: int, **changes: Any) -> Callable[[Steps], None]:
    return lambda steps: steps[index].update(changes)


RULES: list[tuple[str, Callable[[Steps], None], list[Any], str]] = [
    ("duplicate key", _at(2, key="agree_appointment"), [2, "key"], "duplicate step key"),
    ("unknown requires", _at(2, requires=["survey"]), [2, "requires"], "unknown step 'survey'"),
    ("cycle", _at(0, requires=["invoice"]), [0, "requires"], "cycle"),
    (
        "from_field of a step that does not finish before",
        _at(1, deadline={"from_field": {"step": "installation", "field": "installation_date"}}),
        [1, "deadline", "from_field", "step"],
        "does not finish before this one",
    ),
    (
        "from_field of a parallel step",
        _at(2, requires=["commission"]),
        [2, "deadline", "from_field", "step"],
        "does not finish before this one",
    ),
    (
        "from_field naming a field that is not a date",
        lambda s: s[1]["fields"].__setitem__(
            0, {"key": "installation_date", "label": "T", "type": "text"}
        ),
        [2, "deadline", "from_field", "field"],
        "no date field 'installation_date'",
    ),
    (
        "unknown partner",
        _at(3, assignee={"type": "partner", "partner_id": UNKNOWN}),
        [3, "assignee", "partner_id"],
        "unknown partner",
    ),
    (
        "unknown user",
        _at(0, assignee={"type": "user", "user_id": UNKNOWN}),
        [0, "assignee", "user_id"],
        "unknown user",
    ),
    (
        "unknown reassign_to partner",
        _at(2, escalation={"reassign_to": {"type": "partner", "partner_id": UNKNOWN}}),
        [2, "escalation", "reassign_to", "partner_id"],
        "unknown partner",
    ),
    (
        "unknown e-mail template",
        _at(1, on_activate_email=UNKNOWN),
        [1, "on_activate_email"],
        "unknown e-mail template",
    ),
    (
        "bad duration in after",
        _at(3, deadline={"after": "3 days"}),
        [3, "deadline", "after"],
        "ISO 8601",
    ),
    (
        "bad duration in offset",
        lambda s: s[2]["deadline"].update(offset="P1X"),
        [2, "deadline", "offset"],
        "ISO 8601",
    ),
    (
        "bad duration in reminders",
        _at(1, reminders=["P1D", "tomorrow"]),
        [1, "reminders", 1],
        "ISO 8601",
    ),
    (
        "bad duration in grace",
        _at(2, escalation={"grace": "PT"}),
        [2, "escalation", "grace"],
        "ISO 8601",
    ),
    (
        "unknown region",
        _at(1, deadline={"business_days": 5, "region": "DE-XX"}),
        [1, "deadline", "region"],
        "unknown region",
    ),
    (
        "choice without options",
        lambda s: s[1]["fields"].append({"key": "roof", "label": "Dach", "type": "choice"}),
        [1, "fields", 1, "options"],
        "a choice needs options",
    ),
    ("reminders without a deadline", _at(0, reminders=["P1D"]), [0, "reminders"], "no deadline"),
]


@pytest.mark.parametrize(
    ("mutate", "loc", "message"), [r[1:] for r in RULES], ids=[r[0] for r in RULES]
)
async def test_every_validation_rule_is_a_422_naming_step_and_field(
    stack: Stack, mutate: Callable[[Steps], None], loc: list[Any], message: str
) -> None:
    partner = await factories.partner(stack.http, stack.admin)
    body = appointment_template(partner["id"])
    mutate(body["steps"])
    for method, url in (("POST", "/api/process-templates"),):
        response = await stack.http.request(method, url, json=body, headers=stack.admin)
        assert response.status_code == 422, response.text
        error = response.json()["detail"][0]
        assert error["loc"] == ["body", "steps", *loc]
        assert message in error["msg"]
        step_key = body["steps"][loc[0]]["key"]
        assert f"step '{step_key}'" in error["msg"]


async def test_the_articles_process_is_accepted_and_reads_back_unchanged(stack: Stack) -> None:
    partner = await factories.partner(stack.http, stack.admin)
    body = appointment_template(partner["id"])
    template = await factories.created(
        await stack.http.post("/api/process-templates", json=body, headers=stack.admin)
    )
    assert template["status"] == "draft"
    assert template["published_version"] is None
    steps = template["steps"]
    assert steps[1]["deadline"] == {"business_days": 5, "from": "activation", "region": "DE-NW"}
    assert steps[2]["deadline"]["from_field"] == {
        "step": "agree_appointment",
        "field": "installation_date",
    }
    assert steps[3]["documents"] == [
        {"type": "invoice", "label": "Rechnung", "required": True, "min_count": 1}
    ]
    # A GET body can be edited and sent back as it is.
    response = await stack.http.put(
        f"/api/process-templates/{template['id']}", json=template, headers=stack.admin
    )
    assert response.status_code == 200, response.text
    assert response.json()["steps"] == steps


async def test_unknown_time_zone_is_refused(stack: Stack) -> None:
    partner = await factories.partner(stack.http, stack.admin)
    body = {**appointment_template(partner["id"]), "timezone": "Mars/Olympus"}
    response = await stack.http.post("/api/process-templates", json=body, headers=stack.admin)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "timezone"]


async def test_duplicate_is_independent_of_the_original(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    original = await factories.published_template(http, admin, appointment_template(partner["id"]))
    before = (await http.get(f"/api/process-templates/{original['id']}", headers=admin)).json()

    response = await http.post(f"/api/process-templates/{original['id']}/duplicate", headers=admin)
    duplicate = await factories.created(response)
    assert duplicate["name"] == "PV-Installation (copy)"
    assert duplicate["status"] == "draft" and duplicate["published_version"] is None
    assert duplicate["steps"] == before["steps"]

    edited = copy.deepcopy(duplicate)
    edited["steps"][2]["name"] = "Montage"
    edited["steps"].pop()
    assert (
        await http.put(f"/api/process-templates/{duplicate['id']}", json=edited, headers=admin)
    ).status_code == 200
    after_edit = (await http.get(f"/api/process-templates/{original['id']}", headers=admin)).json()
    assert after_edit == before

    assert (
        await http.delete(f"/api/process-templates/{duplicate['id']}", headers=admin)
    ).status_code == 204
    assert (
        await http.get(f"/api/process-templates/{duplicate['id']}", headers=admin)
    ).status_code == 404
    assert (
        await http.get(f"/api/process-templates/{original['id']}", headers=admin)
    ).json() == before

    named = await factories.created(
        await http.post(
            f"/api/process-templates/{original['id']}/duplicate",
            json={"name": "PV für Firma B"},
            headers=admin,
        )
    )
    assert named["name"] == "PV für Firma B"


async def test_a_process_keeps_its_version_when_the_next_is_published(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    v1 = await factories.published_template(http, admin, factories.two_step_template(partner["id"]))
    opportunity = await factories.opportunity(http, admin)
    started = await factories.created(
        await http.post(
            "/api/processes",
            json={"template_id": v1["id"], "opportunity_id": opportunity["id"]},
            headers=admin,
        )
    )
    assert started["template_version"] == 1

    edited = copy.deepcopy(v1)
    edited["steps"][1]["name"] = "Montage"
    edited["steps"].append(
        {
            "key": "invoice",
            "name": "Rechnung",
            "assignee": {"type": "partner", "partner_id": partner["id"]},
        }
    )
    draft = (
        await http.put(f"/api/process-templates/{v1['id']}", json=edited, headers=admin)
    ).json()
    assert draft["status"] == "published" and draft["published_version"] == 1
    assert draft["draft_pending"] is True
    v2 = (await http.post(f"/api/process-templates/{v1['id']}/publish", headers=admin)).json()
    assert v2["published_version"] == 2 and v2["draft_pending"] is False
    versions = (await http.get(f"/api/process-templates/{v1['id']}/versions", headers=admin)).json()
    assert [v["version"] for v in versions["data"]] == [1, 2]

    running = (await http.get(f"/api/processes/{started['id']}", headers=admin)).json()
    assert [(s["key"], s["name"]) for s in running["steps"]] == [
        ("commission_partner", "Commission partner"),
        ("installation", "Installation"),
    ]
    completed = await http.post(
        f"/api/processes/{started['id']}/steps/commission_partner/complete", json={}, headers=admin
    )
    assert [s["name"] for s in completed.json()["steps"]] == ["Commission partner", "Installation"]

    latest = await factories.created(
        await http.post(
            "/api/processes",
            json={"template_id": v1["id"], "opportunity_id": opportunity["id"]},
            headers=admin,
        )
    )
    assert latest["template_version"] == 2
    assert [s["name"] for s in latest["steps"]] == ["Commission partner", "Montage", "Rechnung"]
    named = await factories.created(
        await http.post(
            "/api/processes",
            json={"template_id": v1["id"], "version": 1, "opportunity_id": opportunity["id"]},
            headers=admin,
        )
    )
    assert named["template_version"] == 1 and len(named["steps"]) == 2
    missing = await http.post(
        "/api/processes",
        json={"template_id": v1["id"], "version": 7, "opportunity_id": opportunity["id"]},
        headers=admin,
    )
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "version"]


async def test_archived_templates_start_nothing_and_cannot_be_edited(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    template = await factories.published_template(
        http, admin, factories.two_step_template(partner["id"])
    )
    archived = (
        await http.post(f"/api/process-templates/{template['id']}/archive", headers=admin)
    ).json()
    assert archived["status"] == "archived"
    opportunity = await factories.opportunity(http, admin)
    response = await http.post(
        "/api/processes",
        json={"template_id": template["id"], "opportunity_id": opportunity["id"]},
        headers=admin,
    )
    assert response.status_code == 409
    assert (
        await http.put(f"/api/process-templates/{template['id']}", json=template, headers=admin)
    ).status_code == 409


async def test_a_template_with_processes_cannot_be_deleted(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    template = await factories.published_template(
        http, admin, factories.two_step_template(partner["id"])
    )
    opportunity = await factories.opportunity(http, admin)
    await factories.created(
        await http.post(
            "/api/processes",
            json={"template_id": template["id"], "opportunity_id": opportunity["id"]},
            headers=admin,
        )
    )
    response = await http.delete(f"/api/process-templates/{template['id']}", headers=admin)
    assert response.status_code == 409
    assert "archive" in response.json()["detail"]


async def test_listing_filters_by_status_and_name(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    body = factories.two_step_template(partner["id"])
    published = await factories.published_template(
        http, admin, {**body, "name": "Wärmepumpe Einbau"}
    )
    draft = await factories.created(
        await http.post("/api/process-templates", json={**body, "name": "PV Einbau"}, headers=admin)
    )
    archived = await factories.published_template(http, admin, {**body, "name": "Alt: PV"})
    await http.post(f"/api/process-templates/{archived['id']}/archive", headers=admin)

    async def names(**params: str) -> list[str]:
        response = await http.get("/api/process-templates", params=params, headers=admin)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["count"] == len(page["data"])
        return [t["name"] for t in page["data"]]

    assert await names(status="draft") == [draft["name"]]
    assert await names(status="published") == [published["name"]]
    assert await names(status="archived") == [archived["name"]]
    assert sorted(await names(name="einbau")) == ["PV Einbau", "Wärmepumpe Einbau"]
    assert (
        await http.get("/api/process-templates", params={"status": "gone"}, headers=admin)
    ).status_code == 422


async def test_a_template_an_automation_starts_cannot_be_deleted(stack: Stack) -> None:
    # It was a 500: the automation's reference made the database refuse the delete.
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    template = await factories.published_template(
        http, admin, factories.two_step_template(partner["id"])
    )
    await factories.automation(http, admin, template["id"], filter={})
    response = await http.delete(f"/api/process-templates/{template['id']}", headers=admin)
    assert response.status_code == 409
    assert "automation" in response.json()["detail"]
    assert (await http.get(f"/api/process-templates/{template['id']}", headers=admin)).is_success
