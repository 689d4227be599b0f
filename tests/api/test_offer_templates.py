"""A step offered to partners, as a template says it: saved through the API and the builder's
step editor, refused naming the field when the offer could not be made, said in words."""

import asyncio
import uuid
from typing import Any

import pytest
from starlette.datastructures import FormData, UploadFile

from api.web.step_form import StepForm
from partnerflow import assignees, diagram
from partnerflow.spec import ContactAssignee, OfferAssignee, StepSpec
from tests import factories
from tests.api.web.test_builder import _Form, error_beside
from tests.conftest import ADMIN_TOKEN, Stack
from tests.web import signed_in_staff


def _template(offer: dict[str, Any], **installation: Any) -> dict[str, Any]:
    return {
        "name": f"Wallbox {uuid.uuid4().hex[:6]}",
        "steps": [
            {"key": "commission", "name": "Commission", "assignee": {"type": "contact"}},
            {"key": "installation", "name": "Installation", "assignee": offer, **installation},
        ],
    }


async def _partners(stack: Stack, *names: str) -> list[str]:
    made = await asyncio.gather(*(factories.partner(stack.http, stack.admin, n) for n in names))
    return [partner["id"] for partner in made]


def _offer(**fields: Any) -> dict[str, Any]:
    return {"type": "offer", **fields}


async def test_offers_that_cannot_be_made_are_refused_naming_the_field(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    a, b = await _partners(stack, "Adler Solar", "Berg Dach")
    invited, _ = await factories.invited_partner(http, admin, "Noch Nicht GmbH")
    unknown = str(uuid.uuid4())
    at = ["body", "steps", 1, "assignee"]
    refused: list[tuple[dict[str, Any], list[Any], str]] = [
        (_offer(), [*at, "partners"], "name the partners"),
        (_offer(partners=[a], pool="service_area"), [*at, "pool"], "not both"),
        (_offer(partners=[]), [*at, "partners"], "at least one partner"),
        (_offer(partners=[a, unknown]), [*at, "partners", 1], f"unknown partner {unknown}"),
        (_offer(partners=[invited["id"]]), [*at, "partners", 0], "not accepted its invitation"),
        (_offer(partners=[a, b, a]), [*at, "partners", 2], "named twice"),
        (_offer(partners=[a], wait="4h"), [*at, "wait"], "not an ISO 8601 duration"),
        (_offer(pool="service_area", expires="P0D"), [*at, "expires"], "longer than no time"),
        (_offer(partners=[a], expires="P20Y"), [*at, "expires"], "longer than ten years"),
        (
            _offer(partners=[a, b], mode="ranked", wait="P3D", expires="P1D"),
            [*at, "wait"],
            "longer than the whole offer",
        ),
        (_offer(partners=[a], mode="whenever"), [*at, "offer", "mode"], "first_accept"),
    ]
    for offer, loc, words in refused:
        response = await http.post("/api/process-templates", json=_template(offer), headers=admin)
        assert response.status_code == 422, (offer, response.text)
        [detail] = response.json()["detail"]
        assert (detail["loc"], words in detail["msg"]) == (loc, True), (offer, detail)

    # an overdue step is handed to someone: never offered
    escalating = _template(
        {"type": "contact"},
        deadline={"after": "P1D"},
        escalation={"reassign_to": _offer(partners=[a])},
    )
    response = await http.post("/api/process-templates", json=escalating, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "steps", 1, "escalation", "reassign_to"]

    # at once, a partner's turn does not count: a wait longer than the offer is fine
    at_once = _offer(partners=[a, b], wait="P3D", expires="P1D")
    await factories.created(
        await http.post("/api/process-templates", json=_template(at_once), headers=admin)
    )


async def test_an_offer_to_a_partner_revoked_since_is_refused_at_publish_and_start(
    stack: Stack,
) -> None:
    http, admin = stack.http, stack.admin
    a, b, c = await _partners(stack, "Adler Solar", "Berg Dach", "Cramer Elektro")
    ranked = _offer(partners=[a, b], mode="ranked", wait="PT4H", expires="P2D")
    published = await factories.published_template(http, admin, _template(ranked))
    assert published["steps"][1]["assignee"] == {
        "type": "offer",
        "partners": [a, b],
        "pool": None,
        "mode": "ranked",
        "wait": "PT4H",
        "expires": "P2D",
    }
    draft = await factories.created(
        await http.post(
            "/api/process-templates", json=_template(_offer(partners=[c])), headers=admin
        )
    )
    for partner_id in (b, c):
        assert (
            await http.post(f"/api/partners/{partner_id}/revoke", headers=admin)
        ).status_code == 200

    response = await http.post(f"/api/process-templates/{draft['id']}/publish", headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "steps", 1, "assignee", "partners", 0]

    opportunity = await factories.opportunity(http, admin)
    response = await http.post(
        "/api/processes",
        json={"template_id": published["id"], "opportunity_id": opportunity["id"]},
        headers=admin,
    )
    assert response.status_code == 422, response.text
    [detail] = response.json()["detail"]
    assert detail["loc"] == ["body", "template_id"]
    assert "steps[1].assignee.partners[1]" in detail["msg"] and "revoked" in detail["msg"]


# the builder's step editor ----------------------------------------------------------------------


def _inputs(html: str, action: str, **changes: str | list[str]) -> dict[str, str | list[str]]:
    """What a browser posts from the form, with `changes` typed over it (a list: the boxes
    checked, in order)."""
    parser = _Form(action)
    parser.feed(html)
    posted: dict[str, str | list[str]] = {}
    for name, value in parser.values:
        if name in ("offer_partners", "requires"):
            posted[name] = [*posted.get(name, []), value]
        else:
            posted[name] = value
    return {**posted, **changes}


async def test_an_offer_step_is_saved_through_the_step_editor(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    await signed_in_staff(http, ADMIN_TOKEN)
    a, b, c = await _partners(stack, "Adler Solar", "Berg Dach", "Cramer Elektro")
    template = await factories.created(
        await http.post(
            "/api/process-templates", json=_template({"type": "contact"}), headers=admin
        )
    )
    action = f"/builder/{template['id']}/steps/1"

    async def stored_assignee() -> dict[str, Any]:
        body = (await http.get(f"/api/process-templates/{template['id']}", headers=admin)).json()
        assignee: dict[str, Any] = body["steps"][1]["assignee"]
        return assignee

    page = (await http.get(action)).text
    assert (
        '<option value="offer">Offered to partners (the first to accept gets it)</option>' in page
    )
    for name in ("Adler Solar", "Berg Dach", "Cramer Elektro"):
        assert name in page
    # one at a time: Berg first, then Adler, each for 3 hours, nobody after a day
    saved = await http.post(
        action,
        data=_inputs(
            page, action,
            assignee_type="offer", offer_source="partners", offer_partners=[b, a],
            offer_mode="ranked", offer_wait="3", offer_wait_unit="hours",
            offer_expires="1", offer_expires_unit="days",
        ),
    )  # fmt: skip
    assert saved.status_code == 303, saved.text
    ranked = {
        "type": "offer",
        "partners": [b, a],
        "pool": None,
        "mode": "ranked",
        "wait": "PT3H",
        "expires": "P1D",
    }
    assert await stored_assignee() == ranked
    listed = (await http.get(f"/builder/{template['id']}")).text
    assert "offered to Berg Dach, then Adler Solar, one at a time" in listed

    # opened again and saved untouched: the same offer, in the same order
    page = (await http.get(action)).text
    boxes = page[page.index('id="offer_partners"') :]
    assert boxes.index("Berg Dach") < boxes.index("Adler Solar") < boxes.index("Cramer Elektro")
    saved = await http.post(action, data=_inputs(page, action))
    assert saved.status_code == 303, saved.text
    assert await stored_assignee() == ranked

    # a turn longer than the offer is refused beside the turn, what was typed kept
    refused = await http.post(
        action,
        data=_inputs(page, action, offer_wait="3", offer_wait_unit="days"),
    )
    assert refused.status_code == 422
    assert "longer than the whole offer" in error_beside(refused.text, "offer_wait")
    assert 'name="offer_wait" value="3"' in refused.text
    # the partners chosen, but none checked
    refused = await http.post(
        action,
        data=_inputs(page, action, offer_partners=[]),
    )
    assert refused.status_code == 422
    assert error_beside(refused.text, "offer_partners") == "Name at least one partner"
    assert await stored_assignee() == ranked

    # to the partners serving the customer's area, all at once: the boxes do not count
    saved = await http.post(
        action,
        data=_inputs(page, action, offer_source="service_area", offer_mode="first_accept"),
    )
    assert saved.status_code == 303, saved.text
    assert await stored_assignee() == {
        "type": "offer",
        "partners": None,
        "pool": "service_area",
        "mode": "first_accept",
        "wait": "PT3H",
        "expires": "P1D",
    }
    assert c  # offered to nobody by name


# pure: the editor's inputs and the words ------------------------------------------------------


OFFERS = [
    OfferAssignee(type="offer", partners=[uuid.uuid4(), uuid.uuid4()], mode="ranked", wait="PT2H"),
    OfferAssignee(type="offer", pool="service_area", expires="P1DT12H"),
]


@pytest.mark.parametrize("offer", OFFERS, ids=["partners-ranked", "pool"])
def test_an_offer_goes_through_the_editor_and_back(offer: OfferAssignee) -> None:
    inputs = assignees.form_inputs(offer)
    chosen = assignees.from_form(inputs["assignee_type"], dict(inputs))  # type: ignore[arg-type]
    assert chosen is not None and OfferAssignee.model_validate(chosen) == offer
    # an escalation never offers: its select has no choice for it
    assert assignees.handover_choice(offer) == ""

    step = StepSpec(key="install", name="Install", assignee=offer)
    shown = StepForm.of(step)
    posted: list[tuple[str, str | UploadFile]] = [
        ("key", "install"), ("name", "Install"), ("assignee_type", "offer"),
        ("offer_source", shown.offer_source), ("offer_mode", shown.offer_mode),
        ("offer_wait", shown.offer_wait.amount), ("offer_wait_unit", shown.offer_wait.unit),
        ("offer_expires", shown.offer_expires.amount),
        ("offer_expires_unit", shown.offer_expires.unit),
        ("notify_contact", "1"),
        *(("offer_partners", p) for p in shown.offer_partners),
    ]  # fmt: skip
    assert StepForm.posted(FormData(posted)).spec(("steps", 0)) == step


def test_a_new_step_offers_the_schemas_defaults() -> None:
    form = StepForm()
    assert (form.offer_wait.amount, form.offer_wait.unit) == ("4", "hours")
    assert (form.offer_expires.amount, form.offer_expires.unit) == ("2", "days")
    form = StepForm.posted(
        FormData(
            [
                ("key", "install"),
                ("name", "Install"),
                ("assignee_type", "offer"),
                ("offer_source", "service_area"),
                ("offer_mode", "first_accept"),
                ("offer_wait", "soon"),  # hidden for an offer at once: not refused
                ("offer_expires", ""),
            ]
        )
    )
    spec = form.spec(("steps", 0))
    assert spec.assignee == OfferAssignee(type="offer", pool="service_area")


def test_an_offer_is_said_in_words() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    names = {a: "Adler Solar", b: "Berg Dach"}
    said = [
        assignees.in_words(OfferAssignee(type="offer", partners=[a, b]), names),
        assignees.in_words(OfferAssignee(type="offer", partners=[a, b], mode="ranked"), names),
        assignees.in_words(OfferAssignee(type="offer", pool="service_area"), names),
        assignees.in_words(OfferAssignee(type="offer", pool="service_area", mode="ranked"), {}),
    ]
    assert said == [
        "offered to Adler Solar, Berg Dach, the first to accept",
        "offered to Adler Solar, then Berg Dach, one at a time",
        "offered to the partners serving the customer's area, the first to accept",
        "offered to the partners serving the customer's area, closest first",
    ]
    steps = [
        StepSpec(key="survey", name="Survey", assignee=ContactAssignee(type="contact")),
        StepSpec(
            key="install",
            name="Install",
            assignee=OfferAssignee(type="offer", pool="service_area", mode="ranked"),
        ),
    ]
    assert diagram.described(steps)[1] == (
        "Install: after Survey, offered to the partners serving the area, one at a time."
    )
    assert "offered to the partners serving the area" in diagram.draw(steps)
