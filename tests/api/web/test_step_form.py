"""The step editor's form read back into a step (api/web/step_form.py), without a server."""

from collections.abc import Mapping
from uuid import uuid4

import pytest
from starlette.datastructures import FormData

from api.web.step_form import MAX_ROWS, StepForm
from partnerflow.refusals import Refused
from partnerflow.spec import (
    AfterDeadline,
    BusinessDaysDeadline,
    Condition,
    ContactAssignee,
    DocumentSpec,
    Escalation,
    FieldRef,
    FieldSpec,
    FromFieldDeadline,
    PartnerAssignee,
    PartnerSlotAssignee,
    Review,
    StepSpec,
    UserAssignee,
    When,
)

WHERE = ("steps", 2)

# What the editor posts for a new step before anything is typed (builder_step.html): checked
# boxes post "1", unchecked ones nothing; one blank row each of fields, documents, reminders
# and conditions; a duration is a number and its unit.
NEW_STEP = {
    "name": "",
    "key": "",
    "instructions": "",
    "assignee_type": "contact",
    "slot": "",
    "partner_id": "",
    "user_id": "",
    "requires_mode": "before",
    "deadline_kind": "",
    "deadline_after": "",
    "deadline_after_unit": "days",
    "deadline_from": "activation",
    "business_days": "",
    "region": "DE",
    "date_field": "",
    "offset": "",
    "offset_unit": "days",
    "reminder_rows": "1",
    "reminder_1": "",
    "reminder_1_unit": "days",
    "field_rows": "1",
    "field_1_key": "",
    "field_1_label": "",
    "field_1_type": "text",
    "field_1_options": "",
    "document_rows": "1",
    "document_1_type": "",
    "document_1_label": "",
    "document_1_min_count": "1",
    "document_1_required": "1",
    "handover_email": "",
    "notify_contact": "1",
    "escalation_notify": "1",
    "escalation_to": "",
    "escalation_grace": "",
    "escalation_grace_unit": "days",
    "when_mode": "",
    "when_rows": "1",
    "when_1_field": "",
    "when_1_attribute": "",
    "when_1_op": "equals",
    "when_1_value": "",
    "review_by": "",
    "review_max_rounds": "3",
}
# A deadline, so that reminders and escalation count (the page shows them only with one).
DUE = {"deadline_kind": "after", "deadline_after": "3"}


def posted(
    inputs: Mapping[str, str | None] | None = None, *more: tuple[str, str], **typed: str | None
) -> StepForm:
    """The form as a person posts it: the new step's inputs, with `inputs`/`typed` changed
    (None: a checkbox left unchecked) and `more` added (checked requirements)."""
    values = {**NEW_STEP, "key": "survey", "name": "Survey", **(inputs or {}), **typed}
    items = [(name, value) for name, value in values.items() if value is not None]
    return StepForm.posted(FormData([*items, *more]))


def refused(form: StepForm) -> dict[str, str]:
    """Each refusal's message by the input the page shows it beside (or its loc)."""
    with pytest.raises(ExceptionGroup) as group:
        form.spec(WHERE)
    found: dict[str, str] = {}
    for problem in group.value.exceptions:
        assert isinstance(problem, Refused)
        assert problem.kind == "invalid"
        assert problem.loc[: len(WHERE)] == WHERE
        name = form.input_for(problem.loc[len(WHERE) :]) or repr(problem.loc)
        found[name] = problem.message
    return found


def as_posted(form: StepForm) -> FormData:
    """The inputs the editor renders for a form (builder_step.html), as the browser posts them."""
    items: list[tuple[str, str]] = [
        (name, getattr(form, name))
        for name in NEW_STEP
        if isinstance(getattr(form, name, None), str)
    ]
    for name in ("deadline_after", "offset", "escalation_grace"):
        items += [(name, getattr(form, name).amount), (f"{name}_unit", getattr(form, name).unit)]
    items += [("requires", key) for key in form.requires]
    items += [("field_rows", str(len(form.fields))), ("document_rows", str(len(form.documents)))]
    items += [("reminder_rows", str(len(form.reminders))), ("when_rows", str(len(form.conditions)))]
    for n, row in enumerate(form.fields, start=1):
        items += [(f"field_{n}_{part}", getattr(row, part)) for part in ("key", "label", "type")]
        items += [(f"field_{n}_options", row.options)]
        items += [(f"field_{n}_required", "1")] if row.required else []
    for n, doc in enumerate(form.documents, start=1):
        items += [(f"document_{n}_{part}", getattr(doc, part)) for part in ("type", "label")]
        items += [(f"document_{n}_min_count", doc.min_count)]
        items += [(f"document_{n}_required", "1")] if doc.required else []
    for n, reminder in enumerate(form.reminders, start=1):
        items += [(f"reminder_{n}", reminder.amount), (f"reminder_{n}_unit", reminder.unit)]
    for n, condition in enumerate(form.conditions, start=1):
        parts = ("field", "attribute", "op", "value")
        items += [(f"when_{n}_{part}", getattr(condition, part)) for part in parts]
    boxes = ("notify_contact", "escalation_notify")
    items += [(box, "1") for box in boxes if getattr(form, box)]
    return FormData([*items])


# a plain step ---------------------------------------------------------------------------------


def test_a_new_step_with_a_key_and_name_is_the_contact_persons_after_the_step_before() -> None:
    step = posted(name="  Site survey ", key=" survey ").spec(WHERE, "made in the editor")
    assert step == StepSpec(
        key="survey",
        name="Site survey",
        description="made in the editor",
        assignee=ContactAssignee(type="contact"),
    )
    assert step.requires is None
    assert step.deadline is None
    assert step.escalation is None
    assert step.notify_contact_on_complete is None


def test_requirements_are_the_step_before_or_exactly_those_checked() -> None:
    checked = (("requires", "offer"), ("requires", "permit"))
    assert posted({}, *checked).spec(WHERE).requires is None
    assert posted({"requires_mode": "listed"}, *checked).spec(WHERE).requires == [
        "offer",
        "permit",
    ]
    assert posted(requires_mode="listed").spec(WHERE).requires == []


def test_reminders_are_rows_of_a_number_and_a_unit_skipping_empty_ones() -> None:
    rows = {
        "reminder_rows": "4",
        "reminder_1": " 1 ",
        "reminder_1_unit": "days",
        "reminder_2": "",
        "reminder_3": "4",
        "reminder_3_unit": "hours",
        "reminder_4": "30",
        "reminder_4_unit": "minutes",
    }
    assert posted({**DUE, **rows}).spec(WHERE).reminders == ["P1D", "PT4H", "PT30M"]


def test_without_a_deadline_the_hidden_reminders_and_escalation_do_not_count() -> None:
    hidden = {"reminder_1": "1", "escalation_to": "contact", "escalation_grace": "2"}
    step = posted(hidden).spec(WHERE)
    assert step.reminders == [] and step.escalation is None


def test_an_unchecked_notice_box_turns_the_hand_over_notice_off() -> None:
    assert posted(notify_contact=None).spec(WHERE).notify_contact_on_complete is False


def test_a_hand_over_email_is_chosen_by_its_id() -> None:
    email = uuid4()
    assert posted(handover_email=str(email)).spec(WHERE).on_activate_email == email
    assert refused(posted(handover_email="welcome")) == {
        "handover_email": "Choose one of the options."
    }


# assignees -----------------------------------------------------------------------------------


def test_each_assignee_kind_reads_its_own_input_only() -> None:
    partner, user = uuid4(), uuid4()
    others = {"slot": " installer ", "partner_id": str(partner), "user_id": str(user)}
    assert posted(others, assignee_type="partner_slot").spec(WHERE).assignee == (
        PartnerSlotAssignee(type="partner_slot", slot="installer")
    )
    assert posted(others, assignee_type="partner").spec(WHERE).assignee == PartnerAssignee(
        type="partner", partner_id=partner
    )
    assert posted(others, assignee_type="user").spec(WHERE).assignee == UserAssignee(
        type="user", user_id=user
    )
    assert posted(others, assignee_type="contact").spec(WHERE).assignee == ContactAssignee(
        type="contact"
    )


@pytest.mark.parametrize(
    ("assignee_type", "input_name", "message"),
    [
        ("partner", "partner_id", "Choose one of the options."),
        ("user", "user_id", "Choose one of the options."),
        ("partner_slot", "slot", "Enter a value."),
    ],
)
def test_an_assignee_not_chosen_is_refused_beside_its_input(
    assignee_type: str, input_name: str, message: str
) -> None:
    assert refused(posted(assignee_type=assignee_type, slot="   ")) == {input_name: message}


def test_a_kind_of_assignee_there_is_not_is_refused_beside_the_select() -> None:
    problems = refused(posted(assignee_type="robot"))
    assert list(problems) == ["assignee_type"]
    assert "'robot'" in problems["assignee_type"]


# deadlines -----------------------------------------------------------------------------------


def test_a_deadline_after_a_duration_from_the_start() -> None:
    form = posted(deadline_kind="after", deadline_after=" 3 ", deadline_from="start")
    assert form.spec(WHERE).deadline == AfterDeadline(after="P3D", from_="start")


@pytest.mark.parametrize(
    ("amount", "unit", "iso"),
    [
        ("3", "days", "P3D"),
        ("4", "hours", "PT4H"),
        ("2", "weeks", "P2W"),
        ("90", "minutes", "PT90M"),
        ("1", "months", "P1M"),
        ("0", "days", "P0D"),
        ("p1dt12h", "iso", "P1DT12H"),
    ],
)
def test_a_duration_is_a_number_and_a_unit_made_iso_8601(amount: str, unit: str, iso: str) -> None:
    form = posted(deadline_kind="after", deadline_after=amount, deadline_after_unit=unit)
    assert form.spec(WHERE).deadline == AfterDeadline(after=iso)


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({**DUE, "deadline_after": "three"}, {"deadline_after": "Type a whole number of days"}),
        ({**DUE, "deadline_after": ""}, {"deadline_after": "Type a whole number of days"}),
        ({**DUE, "deadline_after": "1.5"}, {"deadline_after": "Type a whole number of days"}),
        (
            {**DUE, "deadline_after": "3", "deadline_after_unit": "fortnights"},
            {"deadline_after": "Choose one of the units."},
        ),
        (
            {**DUE, "reminder_rows": "2", "reminder_2": "soon", "reminder_2_unit": "hours"},
            {"reminder_2": "Type a whole number of hours"},
        ),
        ({**DUE, "escalation_grace": "-2"}, {"escalation_grace": "Type a whole number of days"}),
        (
            {"deadline_kind": "from_field", "date_field": "survey.visit", "offset": "x"},
            {"offset": "Type a whole number of days"},
        ),
    ],
)
def test_a_duration_that_is_no_number_is_refused_beside_it(
    inputs: dict[str, str], expected: dict[str, str]
) -> None:
    found = refused(posted(inputs))
    assert list(found) == list(expected)
    for name, start in expected.items():
        assert found[name].startswith(start)


def test_a_deadline_in_business_days_of_a_region_or_germany() -> None:
    form = posted(deadline_kind="business_days", business_days=" 5 ", region="DE-NW")
    assert form.spec(WHERE).deadline == BusinessDaysDeadline(business_days=5, region="DE-NW")
    blank_region = posted(deadline_kind="business_days", business_days="5", region=" ")
    assert blank_region.spec(WHERE).deadline == BusinessDaysDeadline(business_days=5, region="DE")


def test_a_deadline_from_an_earlier_steps_date_with_or_without_an_offset() -> None:
    form = posted(deadline_kind="from_field", date_field="survey.visit", offset=" 1 ")
    visit = FieldRef(step="survey", field="visit")
    assert form.spec(WHERE).deadline == FromFieldDeadline(from_field=visit, offset="P1D")
    no_offset = posted(deadline_kind="from_field", date_field="survey.visit", offset="")
    assert no_offset.spec(WHERE).deadline == FromFieldDeadline(from_field=visit, offset="PT0S")


def test_no_deadline_ignores_what_the_hidden_deadline_inputs_still_hold() -> None:
    form = posted(deadline_kind="", deadline_after="P3D", business_days="5")
    assert form.spec(WHERE).deadline is None


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"deadline_kind": "weekly"}, {"deadline_kind": "Choose one of the options."}),
        ({"deadline_kind": "from_field"}, {"date_field": "Choose the date field."}),
        (
            {"deadline_kind": "business_days", "business_days": "five"},
            {
                "business_days": "Input should be a valid integer, unable to parse string as an "
                "integer"
            },
        ),
        (
            {"deadline_kind": "business_days", "business_days": "0"},
            {"business_days": "Input should be greater than or equal to 1"},
        ),
        (
            {"deadline_kind": "after", "deadline_after": "3", "deadline_from": "yesterday"},
            {"deadline_from": "Input should be 'activation' or 'start'"},
        ),
        (
            {"deadline_kind": "from_field", "date_field": "survey.Visit"},
            {
                "date_field": "Use lower-case letters, digits, '-' and '_' (start with a letter "
                "or digit; at most 64)."
            },
        ),
    ],
)
def test_a_deadline_typed_wrong_is_refused_beside_its_input(
    inputs: dict[str, str | None], expected: dict[str, str]
) -> None:
    assert refused(posted(inputs)) == expected


# field and document rows ----------------------------------------------------------------------


def test_field_rows_become_fields_skipping_blank_and_removed_rows() -> None:
    rows = {
        "field_rows": "4",
        "field_1_key": "visit",
        "field_1_label": "Visit",
        "field_1_type": "date",
        "field_1_required": "1",
        "field_2_key": "old",
        "field_2_label": "Old",
        "field_2_remove": "1",
        "field_3_key": "roof",
        "field_3_label": "Roof",
        "field_3_type": "choice",
        "field_3_options": "flat, pitched, ,",
        "field_4_key": "",
        "field_4_label": "",
        "field_4_type": "text",
    }
    assert posted(rows).spec(WHERE).fields == [
        FieldSpec(key="visit", label="Visit", type="date", required=True),
        FieldSpec(key="roof", label="Roof", type="choice", options=["flat", "pitched"]),
    ]


def test_options_count_only_for_a_choice() -> None:
    rows = {"field_1_key": "notes", "field_1_label": "Notes", "field_1_options": "a, b"}
    assert posted(rows).spec(WHERE).fields == [FieldSpec(key="notes", label="Notes", type="text")]


def test_document_rows_become_documents_a_blank_minimum_being_one() -> None:
    rows = {
        "document_rows": "2",
        "document_1_type": "photo",
        "document_1_label": "Photos",
        "document_1_min_count": " ",
        "document_2_type": "plan",
        "document_2_label": "Plan",
        "document_2_min_count": "0",
        "document_2_required": None,
    }
    assert posted(rows).spec(WHERE).documents == [
        DocumentSpec(type="photo", label="Photos", min_count=1),
        DocumentSpec(type="plan", label="Plan", required=False, min_count=0),
    ]


def test_a_refused_row_is_named_by_its_number_on_the_page_not_its_index() -> None:
    rows = {
        "document_rows": "3",
        "document_1_type": "old",
        "document_1_label": "Old",
        "document_1_remove": "1",
        "document_2_type": "photo",
        "document_2_label": "Photos",
        "document_2_min_count": "many",
        "document_3_type": "",
        "document_3_label": "",
    }
    assert refused(posted(rows)) == {
        "document_2_min_count": "Input should be a valid integer, unable to parse string as an "
        "integer"
    }


def test_a_refused_form_keeps_a_blank_row_to_add_with() -> None:
    form = posted({"field_1_key": "visit", "field_1_label": "Visit"})
    assert [row.key for row in form.fields] == ["visit", ""]
    assert form.fields[-1].blank
    assert len(posted().fields) == 1


@pytest.mark.parametrize("count", ["", "two", "²", "-1"])
def test_a_row_count_that_is_not_a_number_means_no_rows(count: str) -> None:
    form = posted({"field_rows": count, "field_1_key": "visit", "field_1_label": "Visit"})
    assert form.spec(WHERE).fields == []


def test_no_more_than_the_row_limit_is_read() -> None:
    rows: dict[str, str | None] = {"field_rows": str(MAX_ROWS + 50)}
    for n in range(1, MAX_ROWS + 51):
        rows |= {f"field_{n}_key": f"f{n}", f"field_{n}_label": f"F{n}"}
    assert len(posted(rows).spec(WHERE).fields) == MAX_ROWS


# escalation ----------------------------------------------------------------------------------


def test_the_default_escalation_is_none_at_all() -> None:
    assert posted().spec(WHERE).escalation is None


def test_an_escalation_without_telling_the_contact_person() -> None:
    escalation = posted(DUE, escalation_notify=None).spec(WHERE).escalation
    assert escalation == Escalation(notify_contact=False)


def test_an_escalation_hands_over_after_a_grace_period() -> None:
    form = posted(DUE, escalation_to="slot:installer", escalation_grace=" 2 ")
    assert form.spec(WHERE).escalation == Escalation(
        reassign_to=PartnerSlotAssignee(type="partner_slot", slot="installer"), grace="P2D"
    )
    user = uuid4()
    to_user = posted(DUE, escalation_to=f"user:{user}").spec(WHERE).escalation
    assert to_user is not None
    assert to_user.reassign_to == UserAssignee(type="user", user_id=user)


def test_an_escalation_to_someone_unknown_is_refused_beside_the_select() -> None:
    assert refused(posted(DUE, escalation_to="user:bob")) == {
        "escalation_to": "Choose one of the options."
    }


# conditions and review ------------------------------------------------------------------------

KINDS = {"fields.survey.scaffold_needed": "boolean", "fields.survey.roof": "choice"}


def test_condition_rows_become_a_when_with_values_typed_as_their_field() -> None:
    rows = {
        "when_mode": "any",
        "when_rows": "6",
        "when_1_field": "attribute",
        "when_1_attribute": " power_kw ",
        "when_1_op": "gt",
        "when_1_value": " 12 ",
        "when_2_field": "fields.survey.scaffold_needed",
        "when_2_op": "equals",
        "when_2_value": "No",
        "when_3_field": "opportunity.customer.address.postal_code",
        "when_3_op": "any_of",
        "when_3_value": "50667, 50668,",
        "when_4_field": "opportunity.product",
        "when_4_op": "equals",
        "when_4_value": "pv",
        "when_4_remove": "1",
        "when_5_field": "opportunity.product",
        "when_5_op": "is_empty",
        "when_5_value": "ignored",
        "when_6_field": "",
    }
    assert posted(rows).spec(WHERE, kinds=KINDS).when == When(
        any=[
            Condition(field="opportunity.attributes.power_kw", op="gt", value=12),
            Condition(field="fields.survey.scaffold_needed", op="equals", value=False),
            Condition(
                field="opportunity.customer.address.postal_code",
                op="any_of",
                value=["50667", "50668"],
            ),
            Condition(field="opportunity.product", op="is_empty"),
        ]
    )


@pytest.mark.parametrize(
    ("typed", "value"),
    [("12,5", 12.5), ("-3", -3), ("true", True), ("heat pump", "heat pump"), ("1e400", "1e400")],
)
def test_an_attributes_value_is_a_number_a_yes_no_or_text(typed: str, value: object) -> None:
    rows = {"when_mode": "all", "when_1_field": "attribute", "when_1_attribute": "kw"}
    when = posted(rows, when_1_value=typed).spec(WHERE).when
    assert when is not None and when.conditions[0].value == value


def test_always_ignores_the_hidden_condition_rows() -> None:
    rows = {"when_1_field": "opportunity.product", "when_1_value": "pv"}
    assert posted(rows).spec(WHERE).when is None


def test_a_review_by_the_contact_person_or_a_named_user() -> None:
    assert posted().spec(WHERE).review is None
    by_contact = posted(review_by="contact", review_max_rounds=" 2 ").spec(WHERE).review
    assert by_contact == Review(by=ContactAssignee(type="contact"), max_rounds=2)
    user = uuid4()
    by_user = posted(review_by=f"user:{user}", review_max_rounds="").spec(WHERE).review
    assert by_user == Review(by=UserAssignee(type="user", user_id=user), max_rounds=3)


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"when_mode": "all"}, {"when_mode": "Keep at least one."}),
        ({"when_mode": "sometimes"}, {"when_mode": "Extra inputs are not permitted"}),
        (
            {"when_mode": "all", "when_1_field": "opportunity.product", "when_1_op": "like"},
            {"when_1_op": "Input should be 'equals', 'not_equals', 'any_of', 'none_of', "
             "'is_empty', 'is_not_empty', 'gt', 'gte', 'lt' or 'lte'"},
        ),
        ({"review_by": "contact", "review_max_rounds": "many"}, {"review_max_rounds": (
            "Input should be a valid integer, unable to parse string as an integer")}),
        ({"review_by": "contact", "review_max_rounds": "21"}, {
            "review_max_rounds": "Input should be less than or equal to 20"}),
        ({"review_by": "user:nobody"}, {"review_by": "Choose one of the options."}),
    ],
)  # fmt: skip
def test_a_condition_or_review_typed_wrong_is_refused_beside_its_input(
    inputs: dict[str, str], expected: dict[str, str]
) -> None:
    assert refused(posted(inputs)) == expected


def test_a_refused_condition_is_named_by_its_row_on_the_page() -> None:
    rows = {
        "when_mode": "all",
        "when_rows": "3",
        "when_1_field": "opportunity.product",
        "when_1_value": "pv",
        "when_1_remove": "1",
        "when_2_field": "opportunity.product",
        "when_2_value": "pv",
        "when_3_field": "attribute",
        "when_3_attribute": "kw",
        "when_3_value": "12",
    }
    form = posted(rows)
    # as the template checks name them (partnerflow/conditions.py): kept conditions counted
    assert form.input_for(("when", "all", 0, "value")) == "when_2_value"
    assert form.input_for(("when", "all", 1, "field")) == "when_3_attribute"
    assert form.input_for(("when", "all", 1, "op")) == "when_3_op"
    assert form.input_for(("when",)) == "when_mode"
    assert form.input_for(("review", "by", "user_id")) == "review_by"


# everything at once -------------------------------------------------------------------------


def test_every_input_at_fault_is_named_at_once() -> None:
    form = posted(
        {
            "key": "Site Survey",
            "name": " ",
            "assignee_type": "partner",
            "partner_id": "",
            "deadline_kind": "business_days",
            "business_days": "0",
            "field_1_key": "visit",
            "field_1_label": "",
            "document_1_type": "Photo",
            "document_1_label": "Photo",
            "handover_email": "nope",
        }
    )
    assert refused(form) == {
        "business_days": "Input should be greater than or equal to 1",
        "key": "Use lower-case letters, digits, '-' and '_' (start with a letter or digit; "
        "at most 64).",
        "name": "Enter a value.",
        "partner_id": "Choose one of the options.",
        "field_1_label": "Enter a value.",
        "document_1_type": "Use lower-case letters, digits, '-' and '_' (start with a letter "
        "or digit; at most 64).",
        "handover_email": "Choose one of the options.",
    }


# the form of a saved step ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "step",
    [
        StepSpec(key="survey", name="Survey", assignee=ContactAssignee(type="contact")),
        StepSpec(
            key="offer",
            name="Offer",
            instructions="Send the offer.",
            assignee=PartnerSlotAssignee(type="partner_slot", slot="installer"),
            requires=["survey"],
            fields=[
                FieldSpec(key="price", label="Price", type="number", required=True),
                FieldSpec(key="kind", label="Kind", type="choice", options=["a", "b"]),
            ],
            documents=[DocumentSpec(type="offer", label="Offer", min_count=2)],
            deadline=AfterDeadline(after="P3D", from_="start"),
            reminders=["P1D", "PT4H"],
            escalation=Escalation(
                notify_contact=False,
                reassign_to=ContactAssignee(type="contact"),
                grace="P1D",
            ),
            on_activate_email=uuid4(),
            notify_contact_on_complete=False,
        ),
        StepSpec(
            key="install",
            name="Install",
            assignee=PartnerAssignee(type="partner", partner_id=uuid4()),
            requires=[],
            deadline=BusinessDaysDeadline(business_days=10, region="AT"),
            escalation=Escalation(reassign_to=UserAssignee(type="user", user_id=uuid4())),
            when=When(
                any=[
                    Condition(field="opportunity.attributes.power_kw", op="gte", value=12.5),
                    Condition(field="opportunity.test", op="equals", value=True),
                    Condition(field="fields.survey.roof", op="none_of", value=["flat", "tin"]),
                ]
            ),
            review=Review(by=UserAssignee(type="user", user_id=uuid4()), max_rounds=5),
        ),
        StepSpec(
            key="check",
            name="Check",
            assignee=UserAssignee(type="user", user_id=uuid4()),
            deadline=FromFieldDeadline(
                from_field=FieldRef(step="survey", field="visit"), offset="PT2H"
            ),
            reminders=["P2W", "PT30M", "P1DT12H"],
            when=When(
                all=[
                    Condition(field="fields.survey.scaffold_needed", op="equals", value=False),
                    Condition(field="opportunity.product", op="is_not_empty"),
                ]
            ),
            review=Review(),
        ),
    ],
    ids=["plain", "slot-after", "partner-business-days", "user-from-field"],
)
def test_a_saved_step_opened_and_saved_again_is_unchanged(step: StepSpec) -> None:
    shown = StepForm.of(step, KINDS)
    assert shown.fields[-1].blank and shown.documents[-1].blank
    assert shown.reminders[-1].blank and shown.conditions[-1].blank
    assert StepForm.posted(as_posted(shown)).spec(WHERE, kinds=KINDS) == step
