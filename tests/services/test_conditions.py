"""Conditions on a step (partnerflow/conditions.py): whether they hold, how they read, what the
builder refuses to save (check_when and check_review through check_steps, on an in-memory
database), and which opportunity values a process carries."""

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine

from partnerflow import conditions
from partnerflow.conditions import check_when, holds, in_words, in_words_condition, ops_for
from partnerflow.models import Partner, User
from partnerflow.process_templates import check_steps
from partnerflow.refusals import Refused
from partnerflow.spec import Condition, StepSpec, When, resolve_requires


def when(*conds: dict[str, Any], group: str = "all") -> When:
    return When.model_validate({group: list(conds)})


def cond(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


POWER = "opportunity.attributes.power_kw"


# holds ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "value", "actual", "expected"),
    [
        # numbers, also a number the opportunity holds as text
        ("gt", 12, 14, True),
        ("gt", 12, 12, False),
        ("gt", 12, "14", True),
        ("gte", 12, 12, True),
        ("gte", 12.5, 12, False),
        ("lt", 12, 9, True),
        ("lt", 12, 12, False),
        ("lte", 12, 12.0, True),
        ("lte", 12, 13, False),
        ("equals", 12, 12.0, True),
        ("equals", 12, 13, False),
        ("not_equals", 12, 13, True),
        ("not_equals", 12, 12, False),
        ("any_of", [9, 14], 14, True),
        ("any_of", [9, 14], 12, False),
        ("none_of", [9, 14], 12, True),
        ("none_of", [9, 14], 9, False),
        # dates as ISO text
        ("gt", "2025-03-01", "2025-03-02", True),
        ("gt", "2025-03-01", "2025-02-28", False),
        ("lte", "2025-03-01", "2025-03-01", True),
        # text
        ("equals", "heat pump", "heat pump", True),
        ("equals", "heat pump", "boiler", False),
        ("lt", "b", "a", True),
        # yes/no: equal or not, never ordered, never equal to text
        ("equals", True, True, True),
        ("equals", True, False, False),
        ("equals", True, "true", False),
        ("not_equals", False, True, True),
        ("gt", False, True, False),
        # a number is not text: 12 > "abc" cannot be said
        ("gt", "abc", 14, False),
    ],
)
def test_each_operator_compares_numbers_dates_text_and_yes_no(
    op: str, value: Any, actual: Any, expected: bool
) -> None:
    assert holds(when(cond(POWER, op, value)), {POWER: actual}, {}) is expected


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("is_empty", None, True),
        ("is_not_empty", None, False),
        ("equals", 12, False),
        ("not_equals", 12, True),
        ("any_of", [12], False),
        ("none_of", [12], True),
        ("gt", 12, False),
        ("lte", 12, False),
    ],
)
def test_a_missing_value_is_empty(op: str, value: Any, expected: bool) -> None:
    assert holds(when(cond(POWER, op, value)), {}, {}) is expected
    # an empty text or list counts as missing too
    assert holds(when(cond(POWER, op, value)), {POWER: ""}, {}) is expected
    assert holds(when(cond(POWER, op, value)), {POWER: []}, {}) is expected


def test_all_needs_every_condition_any_one_of_them() -> None:
    big_heat_pump = {POWER: 14, "opportunity.product": "heat pump"}
    small_heat_pump = {POWER: 9, "opportunity.product": "heat pump"}
    both = (cond(POWER, "gt", 12), cond("opportunity.product", "equals", "heat pump"))
    assert holds(when(*both), big_heat_pump, {})
    assert not holds(when(*both), small_heat_pump, {})
    assert holds(when(*both, group="any"), small_heat_pump, {})
    assert not holds(when(*both, group="any"), {POWER: 9, "opportunity.product": "pv"}, {})


def test_a_recorded_field_is_read_from_its_step() -> None:
    scaffold = when(cond("fields.survey.scaffold_needed", "equals", True))
    assert holds(scaffold, {}, {"survey": {"scaffold_needed": True}})
    assert not holds(scaffold, {}, {"survey": {"scaffold_needed": False}})
    # the survey did not apply, or left the field empty: no scaffold
    assert not holds(scaffold, {}, {})
    assert not holds(scaffold, {}, {"survey": {}})


def test_datetimes_with_different_offsets_compare_as_moments() -> None:
    before_ten_berlin = when(cond("fields.visit.at", "lt", "2026-12-01T10:00:00+01:00"))
    # 09:30 UTC is 10:30 in Berlin: later, though its text sorts first
    assert not holds(before_ten_berlin, {}, {"visit": {"at": "2026-12-01T09:30:00+00:00"}})
    assert holds(before_ten_berlin, {}, {"visit": {"at": "2026-12-01T08:30:00+00:00"}})


# in words -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "words"),
    [
        (cond(POWER, "gt", 12), "power_kw > 12"),
        (cond(POWER, "gte", 12.0), "power_kw ≥ 12"),
        (cond(POWER, "lt", 2.5), "power_kw < 2.5"),
        (cond(POWER, "lte", 12), "power_kw ≤ 12"),
        (cond("opportunity.product", "equals", "heat pump"), "product is heat pump"),
        (cond("opportunity.product", "not_equals", "pv"), "product is not pv"),
        (
            cond("opportunity.product", "any_of", ["heat pump", "boiler"]),
            "product is one of heat pump, boiler",
        ),
        (cond("opportunity.product", "none_of", ["pv"]), "product is none of pv"),
        (cond("fields.survey.scaffold_needed", "equals", True), "survey: scaffold_needed is yes"),
        (cond("opportunity.test", "equals", False), "test is no"),
        (cond("opportunity.customer.address.postal_code", "is_empty"), "postal code is empty"),
        (cond("fields.survey.visit", "is_not_empty"), "survey: visit is not empty"),
        (
            cond("opportunity.product", "equals", "x" * 100),
            "product is " + "x" * 39 + "…",
        ),
    ],
)
def test_a_condition_in_words(condition: dict[str, Any], words: str) -> None:
    assert in_words_condition(Condition.model_validate(condition)) == words


def test_conditions_are_joined_by_and_or_or() -> None:
    big = cond(POWER, "gt", 12)
    scaffold = cond("fields.survey.scaffold_needed", "equals", True)
    assert in_words(when(big, scaffold)) == "power_kw > 12 and survey: scaffold_needed is yes"
    assert in_words(when(big, scaffold, group="any")) == (
        "power_kw > 12 or survey: scaffold_needed is yes"
    )


def test_the_operators_of_each_kind_of_value() -> None:
    assert ops_for("boolean") == ("equals", "not_equals", "is_empty", "is_not_empty")
    assert "any_of" in ops_for("choice") and "gt" not in ops_for("choice")
    assert "gt" in ops_for("number") and "gt" in ops_for("date") and "gt" in ops_for(None)


# facts ----------------------------------------------------------------------------------------


def test_only_the_named_opportunity_values_become_facts() -> None:
    whens: list[When | None] = [
        None,
        when(cond(POWER, "gt", 12), cond("fields.survey.roof", "equals", "flat")),
        when(cond("opportunity.customer.address.postal_code", "any_of", ["50667"])),
        when(cond("opportunity.attributes.storey", "is_empty")),
    ]
    paths = conditions.opportunity_paths(whens)
    assert paths == {
        POWER,
        "opportunity.customer.address.postal_code",
        "opportunity.attributes.storey",
    }
    customer = {
        "name": "Jana Becker",
        "email": "jana@customer.example.com",
        "address": {"street": "Lindenweg 4", "postal_code": "50667"},
    }
    found = conditions.facts(paths, "heat pump", False, customer, {"power_kw": 14, "roof": "tile"})
    # storey is absent: left out, so it is empty
    assert found == {POWER: 14, "opportunity.customer.address.postal_code": "50667"}


# saving: check_when and check_review through check_steps ------------------------------------


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://", poolclass=StaticPool)
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session
        session.rollback()


def staff(session: Session, *, active: bool = True, partner: bool = False) -> UUID:
    partner_id = None
    if partner:
        row = Partner(name="Solar GmbH", email="office@solar.example", status="active")
        session.add(row)
        session.flush()
        partner_id = row.id
    user = User(
        name="Anna Berg",
        email="anna@example.com",
        role="partner" if partner else "member",
        partner_id=partner_id,
        active=active,
    )
    session.add(user)
    session.flush()
    return user.id


SURVEY_FIELDS = [
    {"key": "scaffold_needed", "label": "Scaffold needed", "type": "boolean"},
    {"key": "roof", "label": "Roof", "type": "choice", "options": ["tile", "flat"]},
    {"key": "area", "label": "Roof area", "type": "number"},
    {"key": "visit", "label": "Visit", "type": "date"},
    {"key": "at", "label": "Appointment", "type": "datetime"},
    {"key": "notes", "label": "Notes", "type": "text"},
]


def heat_pump(step_when: dict[str, Any] | None = None, **more: Any) -> list[StepSpec]:
    """Survey, then the grid registration (conditional), then the installation; an unrelated
    step that opens at once beside them."""
    registration: dict[str, Any] = {"when": step_when} if step_when is not None else {}
    steps = [
        {
            "key": "survey",
            "name": "Survey",
            "assignee": {"type": "contact"},
            "fields": SURVEY_FIELDS,
        },
        {
            "key": "registration",
            "name": "Grid registration",
            "assignee": {"type": "contact"},
            **registration,
            **more,
        },
        {"key": "installation", "name": "Installation", "assignee": {"type": "contact"}},
        {
            "key": "paperwork",
            "name": "Paperwork",
            "assignee": {"type": "contact"},
            "requires": [],
            "fields": [{"key": "ok", "label": "OK", "type": "boolean"}],
        },
    ]
    return [StepSpec.model_validate(step) for step in steps]


def refused(session: Session, steps: list[StepSpec]) -> tuple[tuple[str | int, ...], str]:
    with pytest.raises(Refused) as error:
        check_steps(session, steps)
    assert error.value.kind == "invalid"
    return error.value.loc, error.value.message


def test_every_kind_of_condition_that_makes_sense_is_taken(session: Session) -> None:
    reviewer = staff(session)
    fine = [
        cond(POWER, "gt", 12),
        cond(POWER, "equals", True),
        cond(POWER, "any_of", ["a", 1, 2.5, False]),
        cond("opportunity.attributes.installed_on", "lte", "2025-03-01"),
        cond("opportunity.product", "any_of", ["heat pump", "boiler"]),
        cond("opportunity.product", "gte", "m"),
        cond("opportunity.test", "not_equals", True),
        cond("opportunity.customer.address.postal_code", "is_not_empty"),
        cond("opportunity.customer.address.postal_code", "lt", "60000"),
        cond("fields.survey.scaffold_needed", "equals", False),
        cond("fields.survey.scaffold_needed", "is_empty"),
        cond("fields.survey.roof", "none_of", ["tile"]),
        cond("fields.survey.area", "gte", 30),
        cond("fields.survey.area", "lt", 30.5),
        cond("fields.survey.visit", "gt", "2025-03-01"),
        cond("fields.survey.at", "lt", "2025-03-01T09:00:00+01:00"),
        cond("fields.survey.notes", "not_equals", "none"),
    ]
    check_steps(
        session,
        heat_pump(
            {"all": fine},
            review={"by": {"type": "user", "user_id": str(reviewer)}, "max_rounds": 2},
        ),
    )
    # the installation requires the registration, which requires the survey: its fields count
    steps = heat_pump()
    steps[2] = steps[2].model_copy(
        update={"when": when(cond("fields.survey.roof", "equals", "flat"), group="any")}
    )
    check_steps(session, steps)


@pytest.mark.parametrize(
    ("step_when", "loc", "message"),
    [
        # the shape
        ({}, ["when"], "when: give either all or any (a list of conditions), one of them"),
        (
            {"all": [cond(POWER, "gt", 1)], "any": [cond(POWER, "gt", 1)]},
            ["when"],
            "when: give either all or any (a list of conditions), not both",
        ),
        # what it names
        (
            {"all": [cond("opportunity.title", "is_empty")]},
            ["when", "all", 0, "field"],
            "when.all[0].field: unknown field 'opportunity.title'",
        ),
        (
            {"all": [cond("opportunity.attributes.", "is_empty")]},
            ["when", "all", 0, "field"],
            "unknown field",
        ),
        (
            {"all": [cond("fields.survey", "is_empty")]},
            ["when", "all", 0, "field"],
            "unknown field 'fields.survey'",
        ),
        (
            {"any": [cond(POWER, "gt", 1), cond("opportunity.customer.name", "equals", "Jana")]},
            ["when", "any", 1, "field"],
            "when.any[1].field: 'opportunity.customer.name' is the customer's personal data",
        ),
        (
            {"all": [cond("opportunity.customer.email", "is_not_empty")]},
            ["when", "all", 0, "field"],
            "personal data",
        ),
        (
            {"all": [cond("opportunity.customer.phone", "is_not_empty")]},
            ["when", "all", 0, "field"],
            "personal data",
        ),
        (
            {"all": [cond("opportunity.customer.address.street", "equals", "Lindenweg")]},
            ["when", "all", 0, "field"],
            "personal data",
        ),
        (
            {"all": [cond("opportunity.customer.address.city", "equals", "Köln")]},
            ["when", "all", 0, "field"],
            "personal data",
        ),
        (
            {"all": [cond("fields.nope.x", "is_empty")]},
            ["when", "all", 0, "field"],
            "no step 'nope' in this template",
        ),
        (
            {"all": [cond("fields.paperwork.ok", "equals", True)]},
            ["when", "all", 0, "field"],
            "step 'paperwork' does not finish before this one (name it in requires)",
        ),
        (
            {"all": [cond("fields.registration.x", "is_empty")]},
            ["when", "all", 0, "field"],
            "step 'registration' does not finish before this one",
        ),
        (
            {"all": [cond("fields.survey.colour", "is_empty")]},
            ["when", "all", 0, "field"],
            "step 'survey' has no field 'colour'",
        ),
        # operator and value against the field's type
        (
            {"all": [cond("fields.survey.scaffold_needed", "gt", True)]},
            ["when", "all", 0, "op"],
            "when.all[0].op: 'gt' does not apply to a yes/no value",
        ),
        (
            {"all": [cond("fields.survey.scaffold_needed", "any_of", [True])]},
            ["when", "all", 0, "op"],
            "'any_of' does not apply to a yes/no value",
        ),
        (
            {"all": [cond("opportunity.test", "lt", True)]},
            ["when", "all", 0, "op"],
            "'lt' does not apply to a yes/no value",
        ),
        (
            {"all": [cond("fields.survey.roof", "gte", "flat")]},
            ["when", "all", 0, "op"],
            "'gte' does not apply to a choice",
        ),
        (
            {"all": [cond("fields.survey.scaffold_needed", "equals", "yes")]},
            ["when", "all", 0, "value"],
            "when.all[0].value: must be true or false",
        ),
        (
            {"all": [cond("opportunity.test", "equals", 1)]},
            ["when", "all", 0, "value"],
            "must be true or false",
        ),
        (
            {"all": [cond("fields.survey.area", "gt", "30")]},
            ["when", "all", 0, "value"],
            "must be a number",
        ),
        (
            {"all": [cond("fields.survey.area", "equals", True)]},
            ["when", "all", 0, "value"],
            "must be a number",
        ),
        (
            {"all": [cond("fields.survey.visit", "gt", "01.03.2025")]},
            ["when", "all", 0, "value"],
            "must be a date, YYYY-MM-DD",
        ),
        (
            {"all": [cond("fields.survey.visit", "gt", "2025-02-30")]},
            ["when", "all", 0, "value"],
            "must be a date, YYYY-MM-DD",
        ),
        (
            {"all": [cond("fields.survey.at", "lt", "2025-03-01")]},
            ["when", "all", 0, "value"],
            "must be a date and time with its offset",
        ),
        (
            {"all": [cond("fields.survey.at", "lt", "2025-03-01T09:00:00")]},
            ["when", "all", 0, "value"],
            "must be a date and time with its offset",
        ),
        (
            {"all": [cond("fields.survey.roof", "equals", "thatch")]},
            ["when", "all", 0, "value"],
            "must be one of the field's options: tile, flat",
        ),
        (
            {"all": [cond("fields.survey.roof", "any_of", ["tile", "thatch"])]},
            ["when", "all", 0, "value"],
            "when.all[0].value (thatch): must be one of the field's options",
        ),
        (
            {"all": [cond("fields.survey.notes", "equals", 3)]},
            ["when", "all", 0, "value"],
            "must be text",
        ),
        (
            {"all": [cond("opportunity.product", "equals", False)]},
            ["when", "all", 0, "value"],
            "must be text",
        ),
        (
            {"all": [cond("opportunity.customer.address.postal_code", "gt", 50000)]},
            ["when", "all", 0, "value"],
            "must be text",
        ),
        (
            {"all": [cond(POWER, "gt", True)]},
            ["when", "all", 0, "value"],
            "a yes/no value has no order",
        ),
        # the value's shape against the operator
        (
            {"all": [cond(POWER, "is_empty", 3)]},
            ["when", "all", 0, "value"],
            "'is_empty' takes no value",
        ),
        (
            {"all": [cond(POWER, "any_of", 3)]},
            ["when", "all", 0, "value"],
            "'any_of' needs a list of values",
        ),
        (
            {"all": [cond(POWER, "none_of", [])]},
            ["when", "all", 0, "value"],
            "'none_of' needs a list of values",
        ),
        (
            {"all": [cond(POWER, "equals", [3])]},
            ["when", "all", 0, "value"],
            "'equals' needs one value, not a list",
        ),
        (
            {"all": [cond(POWER, "gt")]},
            ["when", "all", 0, "value"],
            "'gt' needs one value, not none",
        ),
        (
            {"all": [cond("opportunity.product", "equals", "x" * 1001)]},
            ["when", "all", 0, "value"],
            "longer than 1000 characters",
        ),
    ],
)
def test_a_condition_that_cannot_work_is_refused_naming_its_path(
    session: Session, step_when: dict[str, Any], loc: list[Any], message: str
) -> None:
    where, said = refused(session, heat_pump(step_when))
    assert where == ("steps", 1, *loc)
    assert said.startswith("step 'registration', when")
    assert message in said


def test_a_condition_is_checked_on_the_step_alone(session: Session) -> None:
    # check_when on specs directly: the steps' requirements resolved first
    steps = resolve_requires(heat_pump({"all": [cond("fields.paperwork.ok", "equals", True)]}))
    with pytest.raises(Refused) as error:
        check_when(1, steps[1], steps)
    assert error.value.loc == ("steps", 1, "when", "all", 0, "field")
    check_when(3, steps[3], steps)  # no condition: nothing to say


@pytest.mark.parametrize("who", ["unknown", "inactive", "partner"])
def test_a_reviewer_must_be_an_active_user_of_the_company(session: Session, who: str) -> None:
    match who:
        case "unknown":
            reviewer = UUID("6a1f1a64-0000-4000-8000-000000000000")
        case "inactive":
            reviewer = staff(session, active=False)
        case _:
            reviewer = staff(session, partner=True)
    steps = heat_pump(review={"by": {"type": "user", "user_id": str(reviewer)}})
    assert refused(session, steps) == (
        ("steps", 1, "review", "by", "user_id"),
        f"step 'registration', review.by.user_id: no active user of the company with id {reviewer}",
    )


def test_a_review_by_the_contact_person_needs_nobody_named(session: Session) -> None:
    check_steps(session, heat_pump(review={"by": {"type": "contact"}}))
    check_steps(session, heat_pump(review={}))
