"""The builder's and the e-mail templates' pages, used the way a browser would use them."""

import re
from html.parser import HTMLParser
from typing import Any

from tests import factories
from tests.conftest import ADMIN_TOKEN, Stack
from tests.web import signed_in_partner, signed_in_staff


async def _template(stack: Stack, name: str = "PV installation") -> dict[str, Any]:
    body = {
        "name": name,
        "steps": [
            {"key": "commission", "name": "Commission partner", "assignee": {"type": "contact"}},
            {
                "key": "survey",
                "name": "Site survey",
                "assignee": {"type": "partner_slot", "slot": "installer"},
                "fields": [{"key": "visit", "label": "Visit", "type": "date", "required": True}],
            },
        ],
    }
    return await factories.created(
        await stack.http.post("/api/process-templates", json=body, headers=stack.admin)
    )


async def _stored(stack: Stack, template_id: str) -> dict[str, Any]:
    response = await stack.http.get(f"/api/process-templates/{template_id}", headers=stack.admin)
    assert response.status_code == 200, response.text
    stored: dict[str, Any] = response.json()
    return stored


def _given(step: dict[str, Any]) -> dict[str, Any]:
    """A step as the API answers it, without what was left at its default."""
    return {name: value for name, value in step.items() if value not in (None, [], "")}


class _Form(HTMLParser):
    """What a browser would submit from the form posting to `action`, unchanged."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.values: list[tuple[str, str]] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action
        if not self.inside or ("name" not in a and tag in ("input", "select", "textarea")):
            return
        if tag == "input":
            kind = a.get("type", "text")
            if kind not in ("checkbox", "radio") or "checked" in a:
                self.values.append((a["name"], a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select":
            self._select, self._options = a["name"], []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea":
            self._textarea = a["name"]
            self.values.append((a["name"], ""))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            name, text = self.values.pop()
            self.values.append((name, text + data))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select" and self._select is not None:
            chosen = [value for value, selected in self._options if selected] or [
                value for value, _ in self._options[:1]
            ]
            self.values.extend((self._select, value) for value in chosen)
            self._select = None


def submitted(html: str, action: str, **changes: str | list[str]) -> dict[str, Any]:
    """The form's values as the page shows them, with `changes` typed over them."""
    parser = _Form(action)
    parser.feed(html)
    values: dict[str, Any] = {}
    for name, value in parser.values:
        values[name] = [*values.get(name, []), value] if name == "requires" else value
    changed: str | list[str]
    for name, changed in changes.items():
        if changed == "" and name.endswith(("required", "remove", "notify_contact", "_notify")):
            values.pop(name, None)  # an unchecked box is not sent
        else:
            values[name] = changed
    return values


def error_beside(html: str, name: str) -> str:
    match = re.search(rf'<p class="error" id="{name}-error">([^<]*)</p>', html)
    assert match, f"no error beside {name}"
    return match.group(1)


async def test_the_list_shows_templates_with_their_menu_and_hides_archived(stack: Stack) -> None:
    csrf = await signed_in_staff(stack.http, ADMIN_TOKEN)
    template = await _template(stack, "Heat pump install")
    response = await stack.http.get("/builder")
    assert response.status_code == 200
    page = response.text
    assert "Heat pump install" in page and 'href="/builder/new"' in page and "Add process" in page
    assert 'aria-label="Actions for Heat pump install"' in page
    assert ">Duplicate</button>" in page and ">Archive</button>" in page
    assert '<span class="badge active">draft</span>' in page

    archived = await stack.http.post(f"/builder/{template['id']}/archive", data={"csrf": csrf})
    assert archived.status_code == 303 and archived.headers["location"] == "/builder?flash=archived"
    page = (await stack.http.get(archived.headers["location"])).text
    assert "Archived: it starts no new processes" in page
    assert "Heat pump install" not in page
    page = (await stack.http.get("/builder?archived=1")).text
    assert "Heat pump install" in page and ">archived</span>" in page
    assert ">Archive</button>" not in page


async def test_duplicate_lands_in_the_copys_editor(stack: Stack) -> None:
    csrf = await signed_in_staff(stack.http, ADMIN_TOKEN)
    original = await _template(stack, "Wallbox")
    response = await stack.http.post(f"/builder/{original['id']}/duplicate", data={"csrf": csrf})
    assert response.status_code == 303
    match = re.fullmatch(
        r"/builder/([0-9a-f-]{36})\?flash=duplicated", response.headers["location"]
    )
    assert match and match.group(1) != original["id"]
    page = (await stack.http.get(response.headers["location"])).text
    assert "<h1>Wallbox (copy)</h1>" in page and "This is the copy" in page
    assert (await _stored(stack, match.group(1)))["steps"] == original["steps"]
    flash = await stack.http.get(f"/builder/{original['id']}?flash=<script>alert(1)</script>")
    assert "<script>alert(1)" not in flash.text


async def test_a_process_made_and_a_step_edited_through_the_forms(stack: Stack) -> None:
    csrf = await signed_in_staff(stack.http, ADMIN_TOKEN)
    page = (await stack.http.get("/builder/new")).text
    refused = await stack.http.post("/builder/new", data=submitted(page, "/builder/new"))
    assert refused.status_code == 422
    assert error_beside(refused.text, "name") == error_beside(refused.text, "first_step")
    form = submitted(page, "/builder/new", name="Roof check", first_step="Call the customer")
    created = await stack.http.post("/builder/new", data=form)
    assert created.status_code == 303, created.text
    editor = created.headers["location"].split("?")[0]
    template_id = editor.rsplit("/", 1)[1]
    assert [_given(step) for step in (await _stored(stack, template_id))["steps"]] == [
        {"key": "call_the_customer", "name": "Call the customer", "assignee": {"type": "contact"}}
    ]

    added = await stack.http.post(f"{editor}/steps", data={"csrf": csrf})
    assert added.status_code == 303 and added.headers["location"].startswith(f"{editor}/steps/1")
    page = (await stack.http.get(added.headers["location"])).text
    for label in ("Key", "Name", "Instructions", "Assigned to", "Duration", "Field 1 key"):
        assert f">{label}</label>" in page
    form = submitted(
        page,
        f"{editor}/steps/1",
        key="agree_appointment",
        name="Agree the appointment",
        instructions="Call the customer and agree a date.",
        assignee_type="partner_slot",
        slot="installer",
        deadline_kind="after",
        deadline_after="3",
        deadline_after_unit="days",
        reminder_1="4",
        reminder_1_unit="hours",
        field_1_key="appointment",
        field_1_label="Appointment",
        field_1_type="date",
        field_1_required="1",
        document_1_type="photo",
        document_1_label="Photo of the roof",
        document_1_min_count="2",
    )
    saved = await stack.http.post(f"{editor}/steps/1", data=form)
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"{editor}?flash=step_saved"
    step = _given((await _stored(stack, template_id))["steps"][1])
    assert step == {
        "key": "agree_appointment",
        "name": "Agree the appointment",
        "instructions": "Call the customer and agree a date.",
        "assignee": {"type": "partner_slot", "slot": "installer"},
        "fields": [
            {
                "key": "appointment",
                "label": "Appointment",
                "type": "date",
                "required": True,
                "options": None,
            }
        ],
        "documents": [
            {"type": "photo", "label": "Photo of the roof", "required": True, "min_count": 2}
        ],
        "deadline": {"after": "P3D", "from": "activation"},
        "reminders": ["PT4H"],
    }
    page = (await stack.http.get(saved.headers["location"])).text
    assert "Step saved." in page and "3 days after the step opens" in page
    assert 'aria-label="Edit step Agree the appointment"' in page


async def test_an_untouched_step_form_saves_the_step_as_it_was(stack: Stack) -> None:
    """Every kind of deadline, escalation and requirement survives the round trip."""
    csrf = await signed_in_staff(stack.http, ADMIN_TOKEN)
    partner = await factories.partner(stack.http, stack.admin)
    body: dict[str, Any] = {
        "name": "Appointment",
        "steps": [
            {"key": "commission", "name": "Commission", "assignee": {"type": "contact"}},
            {
                "key": "agree",
                "name": "Agree",
                "assignee": {"type": "partner", "partner_id": partner["id"]},
                "requires": [],
                "fields": [
                    {"key": "on", "label": "On", "type": "datetime"},
                    {"key": "kind", "label": "Kind", "type": "choice", "options": ["a", "b"]},
                ],
                "deadline": {"business_days": 5, "from": "start", "region": "DE-NW"},
                "notify_contact_on_complete": False,
            },
            {
                "key": "install",
                "name": "Install",
                "assignee": {"type": "user", "user_id": (await _admin_id(stack))},
                "requires": ["commission", "agree"],
                "deadline": {"from_field": {"step": "agree", "field": "on"}, "offset": "P1D"},
                "reminders": ["PT2H"],
                "escalation": {
                    "notify_contact": False,
                    "reassign_to": {"type": "contact"},
                    "grace": "P2D",
                },
                "documents": [{"type": "invoice", "label": "Invoice", "required": False}],
                "when": {
                    "any": [
                        {"field": "fields.agree.kind", "op": "none_of", "value": ["b"]},
                        {"field": "opportunity.attributes.power_kw", "op": "gte", "value": 12.5},
                    ]
                },
                "review": {"by": {"type": "contact"}, "max_rounds": 2},
            },
        ],
    }
    template = await factories.created(
        await stack.http.post("/api/process-templates", json=body, headers=stack.admin)
    )
    for index in range(3):
        action = f"/builder/{template['id']}/steps/{index}"
        form = submitted((await stack.http.get(action)).text, action)
        assert form["csrf"] == csrf
        saved = await stack.http.post(action, data=form)
        assert saved.status_code == 303, saved.text
    assert (await _stored(stack, template["id"]))["steps"] == template["steps"]


async def _admin_id(stack: Stack) -> str:
    me: dict[str, Any] = (await stack.http.get("/api/me", headers=stack.admin)).json()
    return str(me["id"])


async def test_a_bad_duration_is_shown_beside_its_input_with_the_input_kept(stack: Stack) -> None:
    await signed_in_staff(stack.http, ADMIN_TOKEN)
    template = await _template(stack)
    action = f"/builder/{template['id']}/steps/1"
    form = submitted(
        (await stack.http.get(action)).text,
        action,
        name="Survey, renamed",
        deadline_kind="after",
        deadline_after="three",
        deadline_after_unit="weeks",
    )
    response = await stack.http.post(action, data=form)
    assert response.status_code == 422
    page = response.text
    assert error_beside(page, "deadline_after") == "Type a whole number of weeks, e.g. 3."
    kept = re.search(r'<input[^>]* id="deadline_after" [^>]*>', page)
    assert kept and 'value="three"' in kept.group(0)
    assert '<option value="weeks" selected>' in page
    assert 'aria-describedby="deadline_after-hint deadline_after-error"' in kept.group(0)
    assert 'value="Survey, renamed"' in page
    assert (await _stored(stack, template["id"]))["steps"] == template["steps"]


BAD_STEP_INPUTS: list[tuple[dict[str, str], str]] = [
    ({"key": ""}, "key"),
    ({"key": "Not A Key"}, "key"),
    ({"key": "commission"}, "key"),
    ({"name": " "}, "name"),
    ({"assignee_type": "robot"}, "assignee_type"),
    ({"assignee_type": "partner", "partner_id": ""}, "partner_id"),
    ({"assignee_type": "user", "user_id": "6a1f1a64-0000-4000-8000-000000000000"}, "user_id"),
    ({"assignee_type": "partner_slot", "slot": ""}, "slot"),
    ({"requires_mode": "listed", "requires": "nothing"}, "requires"),
    ({"deadline_kind": "sometime"}, "deadline_kind"),
    ({"deadline_kind": "after", "deadline_after": ""}, "deadline_after"),
    ({"deadline_kind": "after", "deadline_after": "3", "deadline_from": "dawn"}, "deadline_from"),
    ({"deadline_kind": "business_days", "business_days": "abc"}, "business_days"),
    ({"deadline_kind": "business_days", "business_days": "0"}, "business_days"),
    ({"deadline_kind": "business_days", "business_days": "3", "region": "XX"}, "region"),
    ({"deadline_kind": "from_field", "date_field": ""}, "date_field"),
    ({"deadline_kind": "from_field", "date_field": "nope.when"}, "date_field"),
    ({"deadline_kind": "from_field", "date_field": "survey.visit"}, "date_field"),
    (
        {"deadline_kind": "from_field", "date_field": "commission.x", "offset": "soon"},
        "offset",
    ),
    ({"deadline_kind": "after", "deadline_after": "3", "reminder_1": "soon"}, "reminder_1"),
    (
        {
            "deadline_kind": "after",
            "deadline_after": "3",
            "reminder_rows": "11",
            **{f"reminder_{n}": "1" for n in range(1, 12)},
        },
        "reminder_1",
    ),
    ({"field_1_key": "Bad Key"}, "field_1_key"),
    ({"field_1_label": ""}, "field_1_label"),
    ({"field_1_type": "colour"}, "field_1_type"),
    ({"field_2_key": "visit", "field_2_label": "Again"}, "field_2_key"),
    ({"field_2_key": "pick", "field_2_label": "Pick", "field_2_type": "choice"}, "field_2_options"),
    ({"document_1_type": "photo", "document_1_label": ""}, "document_1_label"),
    (
        {"document_1_type": "photo", "document_1_label": "P", "document_1_min_count": "-3"},
        "document_1_min_count",
    ),
    ({"handover_email": "not-an-id"}, "handover_email"),
    ({"handover_email": "6a1f1a64-0000-4000-8000-000000000000"}, "handover_email"),
    (
        {"deadline_kind": "after", "deadline_after": "3", "escalation_to": "user:zzz"},
        "escalation_to",
    ),
    (
        {"deadline_kind": "after", "deadline_after": "1", "escalation_grace": "later"},
        "escalation_grace",
    ),
    ({"when_mode": "all"}, "when_mode"),
    ({"when_mode": "all", "when_1_field": "fields.commission.x"}, "when_1_field"),
    ({"when_mode": "all", "when_1_field": "opportunity.customer.email"}, "when_1_field"),
    ({"when_mode": "all", "when_1_field": "attribute", "when_1_value": "1"}, "when_1_attribute"),
    (
        {"when_mode": "any", "when_1_field": "opportunity.test", "when_1_op": "gt"},
        "when_1_op",
    ),
    ({"when_mode": "all", "when_1_field": "opportunity.product"}, "when_1_value"),
    ({"review_by": "user:6a1f1a64-0000-4000-8000-000000000000"}, "review_by"),
    ({"review_by": "contact", "review_max_rounds": "0"}, "review_max_rounds"),
]


async def test_bad_step_input_is_refused_beside_its_input(stack: Stack) -> None:
    # One stack for all the cases: each is a fresh form post against the same template.
    await signed_in_staff(stack.http, ADMIN_TOKEN)
    template = await _template(stack)
    action = f"/builder/{template['id']}/steps/1"
    page = (await stack.http.get(action)).text
    for changes, beside in BAD_STEP_INPUTS:
        response = await stack.http.post(action, data=submitted(page, action, **changes))
        assert response.status_code == 422, (changes, response.text)
        assert error_beside(response.text, beside), changes
    # A row count that is a digit to Python but no number ("²") is no rows, not a 500.
    for rows in ("field_rows", "document_rows"):
        response = await stack.http.post(action, data=submitted(page, action, **{rows: "²"}))
        assert response.status_code in (303, 422), (rows, response.text)
    assert (await _stored(stack, template["id"]))["steps"][0] == template["steps"][0]


async def _survey_then_scaffold(stack: Stack) -> dict[str, Any]:
    """A survey that records whether a scaffold is needed, then the scaffold step."""
    body = {
        "name": "Heat pump",
        "steps": [
            {
                "key": "survey",
                "name": "Site survey",
                "assignee": {"type": "contact"},
                "fields": [
                    {"key": "scaffold_needed", "label": "Scaffold needed", "type": "boolean"},
                    {
                        "key": "roof",
                        "label": "Roof",
                        "type": "choice",
                        "options": ["flat", "pitched"],
                    },
                    {"key": "visit", "label": "Visit", "type": "date"},
                ],
            },
            {"key": "scaffold", "name": "Scaffold", "assignee": {"type": "contact"}},
        ],
    }
    return await factories.created(
        await stack.http.post("/api/process-templates", json=body, headers=stack.admin)
    )


async def test_a_condition_a_review_and_durations_saved_from_the_step_editor(stack: Stack) -> None:
    await signed_in_staff(stack.http, ADMIN_TOKEN)
    template = await _survey_then_scaffold(stack)
    action = f"/builder/{template['id']}/steps/1"
    page = (await stack.http.get(action)).text
    # What a condition can name: the opportunity, and the fields of the step this one requires.
    for offered in ("Opportunity: product", "Opportunity: attribute", "Customer: postal code"):
        assert offered in page
    assert '<option value="fields.survey.scaffold_needed">Site survey › Scaffold needed' in page
    form = submitted(
        page,
        action,
        deadline_kind="after",
        deadline_after="3",
        deadline_after_unit="days",
        reminder_1="4",
        reminder_1_unit="hours",
        escalation_to="contact",
        escalation_grace="2",
        escalation_grace_unit="weeks",
        when_mode="all",
        when_1_field="fields.survey.scaffold_needed",
        when_1_op="equals",
        when_1_value="yes",
        review_by="contact",
        review_max_rounds="2",
    )
    saved = await stack.http.post(action, data=form)
    assert saved.status_code == 303, saved.text
    step = (await _stored(stack, template["id"]))["steps"][1]
    assert step["deadline"] == {"after": "P3D", "from": "activation"}
    assert step["reminders"] == ["PT4H"]
    assert step["escalation"]["grace"] == "P2W"
    assert _given(step["when"]) == {
        "all": [{"field": "fields.survey.scaffold_needed", "op": "equals", "value": True}]
    }
    assert step["review"] == {"by": {"type": "contact"}, "max_rounds": 2}

    # Shown again as typed, with a blank row to add the next condition with.
    page = (await stack.http.get(action)).text
    assert re.search(r'id="deadline_after" name="deadline_after" value="3"', page)
    assert re.search(r'id="when_1_value" name="when_1_value" value="yes"', page)
    form = submitted(
        page,
        action,
        when_2_field="attribute",
        when_2_attribute="power_kw",
        when_2_op="gt",
        when_2_value="12",
    )
    assert (await stack.http.post(action, data=form)).status_code == 303
    step = (await _stored(stack, template["id"]))["steps"][1]
    assert step["when"]["all"][1] == {
        "field": "opportunity.attributes.power_kw",
        "op": "gt",
        "value": 12,
    }

    # The builder draws it: the condition on the arrow into the step, the review loop.
    editor = (await stack.http.get(f"/builder/{template['id']}")).text
    words = "only if survey: scaffold_needed is yes and power_kw &gt; 12"
    assert f"<title>{words}</title>" in editor
    assert 'class="review">review, up to 2 rounds</text>' in editor
    assert 'role="img"' in editor and f"<li>Scaffold: after Site survey, {words}" in editor


async def test_a_refused_condition_or_review_is_shown_beside_its_input(stack: Stack) -> None:
    await signed_in_staff(stack.http, ADMIN_TOKEN)
    template = await _survey_then_scaffold(stack)
    action = f"/builder/{template['id']}/steps/1"
    page = (await stack.http.get(action)).text
    condition = {"when_mode": "all", "when_1_op": "equals"}
    cases: list[tuple[dict[str, str], str, str]] = [
        (
            {**condition, "when_1_field": "fields.survey.roof", "when_1_value": "tin"},
            "when_1_value",
            "Must be one of the field&#39;s options: flat, pitched",
        ),
        (
            {**condition, "when_1_field": "fields.survey.visit", "when_1_value": "tomorrow"},
            "when_1_value",
            "Must be a date",
        ),
        (
            {**condition, "when_1_field": "fields.survey.scaffold_needed", "when_1_value": "1.5"},
            "when_1_value",
            "Must be true or false",
        ),
        (
            {**condition, "when_1_field": "opportunity.customer.name", "when_1_value": "x"},
            "when_1_field",
            "personal data",
        ),
        (
            {
                **condition,
                "requires_mode": "listed",
                "when_1_field": "fields.survey.visit",
                "when_1_op": "is_empty",
            },
            "when_1_field",
            "does not finish before this one",
        ),
        (
            {"review_by": "contact", "review_max_rounds": "25"},
            "review_max_rounds",
            "less than or equal to 20",
        ),
    ]
    for changes, beside, said in cases:
        response = await stack.http.post(action, data=submitted(page, action, **changes))
        assert response.status_code == 422, (changes, response.text)
        assert said in error_beside(response.text, beside), changes
        kept = re.search(rf'<(input|select)[^>]* id="{beside}"[^>]*>', response.text)
        assert kept and 'aria-invalid="true"' in kept.group(0), changes
    assert (await _stored(stack, template["id"]))["steps"] == template["steps"]

    # A refusal names the condition by its place among those kept: the row on the page.
    form = submitted(
        page,
        action,
        when_mode="all",
        when_1_field="opportunity.product",
        when_1_value="heat pump",
    )
    assert (await stack.http.post(action, data=form)).status_code == 303
    page = (await stack.http.get(action)).text
    form = submitted(
        page,
        action,
        when_1_remove="1",
        when_2_field="fields.survey.roof",
        when_2_op="any_of",
        when_2_value="flat, slate",
    )
    response = await stack.http.post(action, data=form)
    assert response.status_code == 422
    assert error_beside(response.text, "when_2_value") == (
        "“slate”: must be one of the field&#39;s options: flat, pitched"
    )
    assert re.search(r'id="when_2_value" name="when_2_value" value="flat, slate"', response.text)


async def test_renaming_a_step_key_renames_it_where_later_steps_name_it(stack: Stack) -> None:
    await signed_in_staff(stack.http, ADMIN_TOKEN)
    body = {
        "name": "Rename",
        "steps": [
            {
                "key": "agree",
                "name": "Agree",
                "assignee": {"type": "contact"},
                "fields": [{"key": "on", "label": "On", "type": "date"}],
            },
            {
                "key": "install",
                "name": "Install",
                "assignee": {"type": "contact"},
                "requires": ["agree"],
                "deadline": {"from_field": {"step": "agree", "field": "on"}, "offset": "PT0S"},
            },
        ],
    }
    template = await factories.created(
        await stack.http.post("/api/process-templates", json=body, headers=stack.admin)
    )
    action = f"/builder/{template['id']}/steps/0"
    form = submitted((await stack.http.get(action)).text, action, key="appointment")
    assert (await stack.http.post(action, data=form)).status_code == 303
    later = (await _stored(stack, template["id"]))["steps"][1]
    assert later["requires"] == ["appointment"]
    assert later["deadline"]["from_field"] == {"step": "appointment", "field": "on"}


async def test_steps_are_moved_up_and_deleted(stack: Stack) -> None:
    csrf = await signed_in_staff(stack.http, ADMIN_TOKEN)
    template = await _template(stack)
    editor = f"/builder/{template['id']}"
    assert 'aria-label="Move up: Site survey"' in (await stack.http.get(editor)).text
    moved = await stack.http.post(f"{editor}/steps/1/move-up", data={"csrf": csrf})
    assert moved.status_code == 303
    keys = [step["key"] for step in (await _stored(stack, template["id"]))["steps"]]
    assert keys == ["survey", "commission"]
    deleted = await stack.http.post(f"{editor}/steps/1/delete", data={"csrf": csrf})
    assert (
        deleted.status_code == 303 and deleted.headers["location"] == f"{editor}?flash=step_deleted"
    )
    last = await stack.http.post(f"{editor}/steps/0/delete", data={"csrf": csrf})
    assert last.status_code == 409 and "A process needs a step" in last.text
    assert [s["key"] for s in (await _stored(stack, template["id"]))["steps"]] == ["survey"]


async def test_publish_and_publish_again_without_changes(stack: Stack) -> None:
    csrf = await signed_in_staff(stack.http, ADMIN_TOKEN)
    template = await _template(stack)
    editor = f"/builder/{template['id']}"
    first = await stack.http.post(f"{editor}/publish", data={"csrf": csrf})
    assert first.status_code == 303 and first.headers["location"] == f"{editor}?flash=published"
    page = (await stack.http.get(first.headers["location"])).text
    assert "Published version 1." in page and "published v1" in page
    again = await stack.http.post(f"{editor}/publish", data={"csrf": csrf})
    page = (await stack.http.get(again.headers["location"])).text
    assert "Nothing changed since version 1" in page
    assert (await _stored(stack, template["id"]))["published_version"] == 1

    await stack.http.post(f"/builder/{template['id']}/archive", data={"csrf": csrf})
    refused = await stack.http.post(f"{editor}/publish", data={"csrf": csrf})
    assert refused.status_code == 409
    assert "An archived template cannot be published" in refused.text


async def test_settings_are_saved_and_refused_beside_their_input(stack: Stack) -> None:
    await signed_in_staff(stack.http, ADMIN_TOKEN)
    template = await _template(stack)
    editor = f"/builder/{template['id']}"
    page = (await stack.http.get(editor)).text
    bad = submitted(page, editor, name="", timezone="Mars/Olympus")
    response = await stack.http.post(editor, data=bad)
    assert response.status_code == 422
    assert error_beside(response.text, "name") == "Enter a value."
    good = submitted(page, editor, name="Renamed", language="en", timezone="Europe/Vienna")
    assert (await stack.http.post(editor, data=good)).status_code == 303
    stored = await _stored(stack, template["id"])
    assert (stored["name"], stored["language"], stored["timezone"]) == (
        "Renamed",
        "en",
        "Europe/Vienna",
    )
    assert stored["steps"] == template["steps"]
    zone = submitted(page, editor, timezone="Mars/Olympus")
    response = await stack.http.post(editor, data=zone)
    assert response.status_code == 422
    assert "Unknown time zone" in error_beside(response.text, "timezone")


async def test_no_builder_page_for_the_signed_out_or_a_partner(stack: Stack) -> None:
    response = await stack.http.get("/builder")
    assert response.status_code == 303 and response.headers["location"] == "/sign-in?next=/builder"
    assert (await stack.http.get("/emails/new")).status_code == 303
    partner = await factories.partner(stack.http, stack.admin)
    user = await factories.partner_user(stack.http, stack.admin, partner["id"])
    csrf = await signed_in_partner(stack.http, stack.admin, user["email"])
    assert (await stack.http.get("/builder")).status_code == 403
    assert (await stack.http.get("/emails")).status_code == 403
    refused = await stack.http.post("/builder/new", data={"csrf": csrf, "name": "x"})
    assert refused.status_code == 403
    listing = await stack.http.get("/api/process-templates", headers=stack.admin)
    assert listing.json()["count"] == 0


async def test_a_form_without_its_token_is_refused(stack: Stack) -> None:
    await signed_in_staff(stack.http, ADMIN_TOKEN)
    template = await _template(stack)
    for path in ("/builder/new", f"/builder/{template['id']}/publish", "/emails/preview"):
        response = await stack.http.post(path, data={"name": "x", "first_step": "y"})
        assert response.status_code == 403, path
    assert (await _stored(stack, template["id"]))["published_version"] is None


async def test_the_email_editor_saves_and_refuses_an_unknown_variable(stack: Stack) -> None:
    await signed_in_staff(stack.http, ADMIN_TOKEN)
    page = (await stack.http.get("/emails/new")).text
    assert 'data-preview="/emails/preview"' in page
    assert '<iframe id="preview-frame" sandbox="" class="preview" title="Preview"' in page
    form = submitted(
        page,
        "/emails/new",
        name="Survey hand-over",
        language="en",
        subject="Survey at {{ customer.name }}",
        body_html=factories.HANDOVER_HTML,
    )
    created = await stack.http.post("/emails/new", data=form)
    assert created.status_code == 303, created.text
    editor = created.headers["location"].split("?")[0]
    page = (await stack.http.get(created.headers["location"])).text
    assert "E-mail template created." in page and "Survey at Jana Becker" in page

    broken = "<p>Hello</p>\n<p>{{ customer.name }}</p>\n<p>{{ x }}</p>"
    response = await stack.http.post(editor, data=submitted(page, editor, body_html=broken))
    assert response.status_code == 422
    assert error_beside(response.text, "body_html") == "Line 3: unknown variable &#39;x&#39;"
    assert "{{ x }}&lt;/p&gt;</textarea>" in response.text
    saved = (
        await stack.http.get(
            f"/api/email-templates/{editor.rsplit('/', 1)[1]}", headers=stack.admin
        )
    ).json()
    assert saved["body_html"] == factories.HANDOVER_HTML

    # An unknown filter: the part and the line, beside the input.
    unknown_filter = submitted(page, editor, body_text="Hi\n{{ partner.name | shout }}")
    response = await stack.http.post(editor, data=unknown_filter)
    assert response.status_code == 422
    assert error_beside(response.text, "body_text") == "Line 2: No filter named &#39;shout&#39;."

    fixed = submitted(page, editor, subject="Survey", body_text="Hello {{ partner.name }}")
    response = await stack.http.post(editor, data=fixed)
    assert response.status_code == 303
    listing = (await stack.http.get("/emails")).text
    assert "Survey hand-over" in listing and "New e-mail template" in listing


BROKEN_TEMPLATES = [
    ("{% if %}", "body_html, line 1"),
    ("<p>\n{{ nobody.name }}", "body_html, line 2: unknown variable 'nobody'"),
    ("{{ customer.name | shout }}", "body_html, line 1: No filter named 'shout'"),
    ("{% if customer is shouting %}{% endif %}", "No test named 'shouting'"),
    ("{{ 1 / 0 }}", "division"),
    ("{{ customer.name + 1 }}", "cannot be rendered"),
    ('{{ "tuesday" | date }}', "cannot be rendered"),
    ("{{ customer.__class__ }}", "not allowed"),
    ('{% include "base.html" %}', "other templates"),
    ("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "cannot be rendered"),
]


async def test_the_preview_refuses_a_broken_template_without_a_500(stack: Stack) -> None:
    csrf = await signed_in_staff(stack.http, ADMIN_TOKEN)
    for body_html, said in BROKEN_TEMPLATES:
        data = {"csrf": csrf, "subject": "Hi", "body_html": body_html, "language": "de"}
        response = await stack.http.post("/emails/preview", data=data)
        assert response.status_code == 422, (body_html, response.text)
        assert said in response.json()["detail"], body_html


async def test_the_preview_renders_sample_data(stack: Stack) -> None:
    csrf = await signed_in_staff(stack.http, ADMIN_TOKEN)
    # The editor's script posts the form as multipart FormData.
    fields = {
        "csrf": csrf,
        "name": "",
        "language": "en",
        "subject": "For {{ customer.name }}",
        "body_html": "<p>{{ partner.name }}: <b>{{ step.due_at | date }}</b></p>",
        "body_text": "",
    }
    response = await stack.http.post(
        "/emails/preview", files={name: (None, value) for name, value in fields.items()}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "subject": "For Jana Becker",
        "html": "<p>Sonnenschein Solar GmbH: <b>Friday, December 11, 2026</b></p>",
        "text": "Sonnenschein Solar GmbH: Friday, December 11, 2026\n",
    }


async def test_unknown_pages_are_not_found(stack: Stack) -> None:
    await signed_in_staff(stack.http, ADMIN_TOKEN)
    template = await _template(stack)
    for path in (
        "/builder/not-an-id",
        "/builder/6a1f1a64-0000-4000-8000-000000000000",
        f"/builder/{template['id']}/steps/2",
        f"/builder/{template['id']}/steps/-1",
        f"/builder/{template['id']}/steps/x",
        "/emails/not-an-id",
    ):
        response = await stack.http.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
