"""Conditions and review settings through the API: each malformed one is a 422 naming its
path, and a started process carries only the opportunity values its conditions name."""

from typing import Any

import pytest

from tests import factories
from tests.conftest import Stack
from tests.personal_data import workflow_text
from workflows.messages import ProcessInput
from workflows.partner_process import workflow_id_for

POWER = "opportunity.attributes.power_kw"


def heat_pump(partner_id: str, **registration: Any) -> dict[str, Any]:
    """Survey (records whether a scaffold is needed and the roof), then the grid registration
    (the step under test), then the partner's installation."""
    return {
        "name": "Heat pump",
        "steps": [
            {
                "key": "survey",
                "name": "Roof survey",
                "assignee": {"type": "contact"},
                "fields": [
                    {"key": "scaffold_needed", "label": "Scaffold needed", "type": "boolean"},
                    {
                        "key": "roof",
                        "label": "Roof",
                        "type": "choice",
                        "options": ["tile", "flat"],
                    },
                ],
            },
            {
                "key": "registration",
                "name": "Grid operator registration",
                "assignee": {"type": "contact"},
                **registration,
            },
            {
                "key": "installation",
                "name": "Installation",
                "assignee": {"type": "partner", "partner_id": partner_id},
            },
        ],
    }


def cond(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


@pytest.mark.parametrize(
    ("registration", "loc", "message"),
    [
        ({"when": {}}, ["when"], "give either all or any"),
        (
            {"when": {"all": [cond(POWER, "gt", 12)], "any": [cond(POWER, "lt", 3)]}},
            ["when"],
            "not both",
        ),
        (
            {"when": {"all": [cond("opportunity.colour", "equals", "red")]}},
            ["when", "all", 0, "field"],
            "unknown field 'opportunity.colour'",
        ),
        (
            {
                "when": {
                    "any": [cond(POWER, "gt", 12), cond("opportunity.customer.name", "is_empty")]
                }
            },
            ["when", "any", 1, "field"],
            "is the customer's personal data",
        ),
        (
            {"when": {"all": [cond("opportunity.customer.address.street", "is_not_empty")]}},
            ["when", "all", 0, "field"],
            "is the customer's personal data",
        ),
        (
            {"when": {"all": [cond("fields.installation.done", "is_empty")]}},
            ["when", "all", 0, "field"],
            "step 'installation' does not finish before this one",
        ),
        (
            {"when": {"all": [cond("fields.survey.colour", "is_empty")]}},
            ["when", "all", 0, "field"],
            "step 'survey' has no field 'colour'",
        ),
        (
            {"when": {"all": [cond("fields.survey.scaffold_needed", "equals", "no")]}},
            ["when", "all", 0, "value"],
            "must be true or false",
        ),
        (
            {"when": {"all": [cond("fields.survey.scaffold_needed", "gt", False)]}},
            ["when", "all", 0, "op"],
            "'gt' does not apply to a yes/no value",
        ),
        (
            {"when": {"all": [cond("fields.survey.roof", "any_of", ["flat", "thatch"])]}},
            ["when", "all", 0, "value"],
            "must be one of the field's options: tile, flat",
        ),
        (
            {"when": {"all": [cond("opportunity.test", "equals", "yes")]}},
            ["when", "all", 0, "value"],
            "must be true or false",
        ),
        (
            {"when": {"all": [cond(POWER, "any_of", 12)]}},
            ["when", "all", 0, "value"],
            "'any_of' needs a list of values",
        ),
        (
            {"when": {"all": [cond(POWER, "is_empty", 12)]}},
            ["when", "all", 0, "value"],
            "'is_empty' takes no value",
        ),
        (
            {"when": {"all": [cond(POWER, "gt")]}},
            ["when", "all", 0, "value"],
            "'gt' needs one value",
        ),
        (
            {"review": {"by": {"type": "user", "user_id": "6a1f1a64-0000-4000-8000-000000000000"}}},
            ["review", "by", "user_id"],
            "no active user of the company",
        ),
    ],
)
async def test_a_malformed_condition_or_review_is_a_422_naming_its_path(
    stack: Stack, registration: dict[str, Any], loc: list[Any], message: str
) -> None:
    partner = await factories.partner(stack.http, stack.admin)
    response = await stack.http.post(
        "/api/process-templates", json=heat_pump(partner["id"], **registration), headers=stack.admin
    )
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "steps", 1, *loc]
    assert error["msg"].startswith("step 'registration', ")
    assert message in error["msg"]


@pytest.mark.parametrize(
    ("registration", "loc"),
    [
        # what the schema itself refuses, before any check of ours
        ({"when": {"all": [cond(POWER, "about", 12)]}}, ["when", "all", 0, "op"]),
        ({"when": {"all": []}}, ["when", "all"]),
        ({"review": {"max_rounds": 0}}, ["review", "max_rounds"]),
        ({"review": {"max_rounds": 21}}, ["review", "max_rounds"]),
        ({"review": {"by": {"type": "partner"}}}, ["review", "by"]),
    ],
)
async def test_a_condition_or_review_the_schema_refuses_is_a_422_too(
    stack: Stack, registration: dict[str, Any], loc: list[Any]
) -> None:
    partner = await factories.partner(stack.http, stack.admin)
    response = await stack.http.post(
        "/api/process-templates", json=heat_pump(partner["id"], **registration), headers=stack.admin
    )
    assert response.status_code == 422, response.text
    paths = [error["loc"] for error in response.json()["detail"]]
    assert any(path[: 4 + len(loc)] == ["body", "steps", 1, *loc] for path in paths), paths


async def test_a_reviewer_who_is_a_partner_user_or_deactivated_is_refused(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    partner_user = await factories.partner_user(http, admin, partner["id"])
    by_partner = heat_pump(
        partner["id"], review={"by": {"type": "user", "user_id": partner_user["id"]}}
    )
    response = await http.post("/api/process-templates", json=by_partner, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "steps", 1, "review", "by", "user_id"]

    # A colleague may review; once deactivated, the draft naming them cannot be published.
    colleague = await factories.member(http, admin)
    by_colleague = heat_pump(
        partner["id"], review={"by": {"type": "user", "user_id": colleague["id"]}, "max_rounds": 2}
    )
    template = await factories.created(
        await http.post("/api/process-templates", json=by_colleague, headers=admin)
    )
    assert template["steps"][1]["review"]["max_rounds"] == 2
    response = await http.post(f"/api/users/{colleague['id']}/deactivate", headers=admin)
    assert response.status_code == 200, response.text
    response = await http.post(f"/api/process-templates/{template['id']}/publish", headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "steps", 1, "review", "by", "user_id"]


async def test_an_edit_adding_a_bad_condition_is_refused_and_the_draft_kept(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    good = heat_pump(partner["id"], when={"all": [cond(POWER, "gt", 12)]})
    template = await factories.created(
        await http.post("/api/process-templates", json=good, headers=admin)
    )
    assert template["steps"][1]["when"]["all"] == [cond(POWER, "gt", 12)]
    bad = heat_pump(partner["id"], when={"all": [cond("opportunity.customer.phone", "is_empty")]})
    response = await http.put(f"/api/process-templates/{template['id']}", json=bad, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "steps", 1, "when", "all", 0, "field"]
    kept = (await http.get(f"/api/process-templates/{template['id']}", headers=admin)).json()
    assert kept["steps"][1]["when"]["all"] == [cond(POWER, "gt", 12)]


async def _workflow_input(stack: Stack, process_id: str) -> ProcessInput:
    handle = stack.env.client.get_workflow_handle(workflow_id_for(process_id))
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [decoded] = await stack.env.client.data_converter.decode(started.input.payloads, [ProcessInput])
    assert isinstance(decoded, ProcessInput)
    return decoded


async def test_a_process_carries_only_the_opportunity_values_its_conditions_name(
    stack: Stack,
) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    conditional = await factories.published_template(
        http,
        admin,
        heat_pump(
            partner["id"],
            when={
                "any": [
                    cond(POWER, "gt", 12),
                    cond("opportunity.customer.address.postal_code", "any_of", ["50667"]),
                    cond("opportunity.attributes.phases", "equals", 3),  # the opportunity lacks it
                    cond("fields.survey.scaffold_needed", "equals", True),
                ]
            },
        ),
    )
    plain = await factories.published_template(http, admin, heat_pump(partner["id"]))
    opportunity = await factories.created(
        await http.post(
            "/api/opportunities",
            json={
                "title": "Wärmepumpe Familie Becker",
                "customer": {
                    "name": "Jana Becker",
                    "email": "jana.becker@customer.example.com",
                    "phone": "+49 221 555 0100",
                    "address": {"street": "Lindenweg 4", "postal_code": "50667", "city": "Köln"},
                },
                "product": "heat pump",
                "attributes": {"power_kw": 14, "roof_colour": "anthracite-7016"},
            },
            headers=admin,
        )
    )
    started = await factories.started(
        http, admin, conditional["id"], opportunity_id=opportunity["id"]
    )
    carried = await _workflow_input(stack, started["id"])
    assert carried.facts == {POWER: 14, "opportunity.customer.address.postal_code": "50667"}
    text = await workflow_text(stack.env.client, workflow_id_for(started["id"]))
    for never in (
        "Jana Becker",
        "jana.becker@",
        "Lindenweg",
        "555 0100",
        "anthracite-7016",
        "Köln",
    ):
        assert never not in text

    # Without conditions, nothing of the opportunity goes along.
    unconditional = await factories.started(
        http, admin, plain["id"], opportunity_id=opportunity["id"]
    )
    assert (await _workflow_input(stack, unconditional["id"])).facts == {}


async def test_an_automation_start_carries_the_named_values_too(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    template = await factories.published_template(
        http, admin, heat_pump(partner["id"], when={"all": [cond(POWER, "gt", 12)]})
    )
    await factories.automation(http, admin, template["id"], filter={"product": "heat pump"})
    opportunity = await factories.created(
        await http.post(
            "/api/opportunities",
            json={
                "title": "Wärmepumpe",
                "customer": {"name": "Jana Becker"},
                "product": "heat pump",
                "attributes": {"power_kw": 9, "roof_colour": "red"},
            },
            headers=admin,
        )
    )
    listed = await http.get(
        "/api/processes", params={"opportunity_id": opportunity["id"]}, headers=admin
    )
    [process] = listed.json()["data"]
    assert (await _workflow_input(stack, process["id"])).facts == {POWER: 9}
