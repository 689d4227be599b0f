"""What a saved template must satisfy (partnerflow/process_templates.py check_steps) and how its
assignees are checked and said (partnerflow/assignees.py), on an in-memory database."""

from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine

from partnerflow import assignees
from partnerflow.models import EmailTemplate, Partner, PartnerStatus, User
from partnerflow.process_templates import check_steps, check_timezone, partner_slots
from partnerflow.refusals import Refused
from partnerflow.spec import (
    ContactAssignee,
    PartnerAssignee,
    PartnerSlotAssignee,
    StepSpec,
    UserAssignee,
)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """An in-memory database with every table, for this module's tests."""
    engine = create_engine("sqlite://", poolclass=StaticPool)
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose rows (flushed, never committed) are gone when the test ends."""
    with Session(engine) as session:
        yield session
        session.rollback()


def partner(session: Session, status: PartnerStatus = "active", name: str = "Solar GmbH") -> UUID:
    row = Partner(name=name, email="office@solar.example", status=status)
    session.add(row)
    session.flush()
    return row.id


def user(session: Session, partner_id: UUID | None = None, name: str = "Anna Berg") -> UUID:
    row = User(
        name=name,
        email="anna@example.com",
        role="partner" if partner_id else "member",
        partner_id=partner_id,
    )
    session.add(row)
    session.flush()
    return row.id


def step(key: str, **more: Any) -> dict[str, Any]:
    return {"key": key, "name": key.title(), "assignee": {"type": "contact"}} | more


def date_field(key: str = "visit", type: str = "date") -> dict[str, str]:
    return {"key": key, "label": key.title(), "type": type}


def specs(*steps: dict[str, Any]) -> list[StepSpec]:
    return [StepSpec.model_validate(s) for s in steps]


def refusal(session: Session, *steps: dict[str, Any]) -> tuple[tuple[str | int, ...], str]:
    with pytest.raises(Refused) as error:
        check_steps(session, specs(*steps))
    assert error.value.kind == "invalid"
    return error.value.loc, error.value.message


# a template that runs -------------------------------------------------------------------------


def test_a_template_using_every_part_is_taken(session: Session) -> None:
    installer, electrician = partner(session), user(session)
    email = EmailTemplate(name="Welcome", subject="Hello", body_html="<p>Hi</p>")
    session.add(email)
    session.flush()
    steps = specs(
        step("survey", fields=[date_field("visit"), date_field("at", "datetime")]),
        step("permit", requires=[], assignee={"type": "partner_slot", "slot": "installer"}),
        step(
            "offer",
            requires=["survey"],
            assignee={"type": "partner", "partner_id": str(installer)},
            deadline={"business_days": 5, "region": "DE-NW"},
            reminders=["P1D", "PT4H"],
            escalation={"reassign_to": {"type": "user", "user_id": str(electrician)}},
            on_activate_email=str(email.id),
        ),
        step(
            "install",
            requires=["offer", "permit"],
            # survey finishes before install: through offer
            deadline={"from_field": {"step": "survey", "field": "at"}, "offset": "P1D"},
            escalation={"grace": "PT12H"},
        ),
        step("handover", deadline={"after": "P2W", "from": "start"}),
    )
    check_steps(session, steps)


# keys and fields ------------------------------------------------------------------------------


def test_a_duplicate_step_key_is_named_at_the_second(session: Session) -> None:
    assert refusal(session, step("survey"), step("offer"), step("survey")) == (
        ("steps", 2, "key"),
        "step 'survey': duplicate step key",
    )


def test_a_duplicate_field_key_is_named_at_the_second(session: Session) -> None:
    fields = [date_field("visit"), date_field("notes", "text"), date_field("visit", "text")]
    assert refusal(session, step("survey"), step("offer", fields=fields)) == (
        ("steps", 1, "fields", 2, "key"),
        "step 'offer': duplicate field 'visit'",
    )


@pytest.mark.parametrize("options", [None, []])
def test_a_choice_without_options_is_refused(session: Session, options: list[str] | None) -> None:
    roof = {"key": "roof", "label": "Roof", "type": "choice", "options": options}
    assert refusal(session, step("survey", fields=[roof])) == (
        ("steps", 0, "fields", 0, "options"),
        "step 'survey', field 'roof': a choice needs options",
    )


# requirements ---------------------------------------------------------------------------------


def test_requiring_an_unknown_step_is_refused(session: Session) -> None:
    assert refusal(session, step("survey"), step("offer", requires=["survey", "surve"])) == (
        ("steps", 1, "requires"),
        "step 'offer': requires unknown step 'surve'",
    )


def test_a_cycle_is_refused_with_its_path(session: Session) -> None:
    assert refusal(
        session,
        step("survey", requires=["install"]),
        step("offer"),
        step("install"),
    ) == (("steps", 0, "requires"), "step 'survey': cycle survey → install → offer → survey")


def test_a_step_requiring_itself_is_a_cycle(session: Session) -> None:
    assert refusal(session, step("survey"), step("offer", requires=["offer"])) == (
        ("steps", 1, "requires"),
        "step 'offer': cycle offer → offer",
    )


# deadlines ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deadline", "loc", "message"),
    [
        (
            {"after": "3 days"},
            ("steps", 0, "deadline", "after"),
            "step 'survey', deadline.after: '3 days' is not an ISO 8601 duration "
            "(e.g. P3D, PT4H, P1DT12H)",
        ),
        (
            {"after": "P11Y"},
            ("steps", 0, "deadline", "after"),
            "step 'survey', deadline.after: 'P11Y' is longer than ten years",
        ),
        (
            {"business_days": 3, "region": "XX"},
            ("steps", 0, "deadline", "region"),
            "step 'survey', deadline.region: unknown region 'XX': no public holidays known "
            "for 'XX'",
        ),
        (
            {"business_days": 3, "region": "DE-XY"},
            ("steps", 0, "deadline", "region"),
            "step 'survey', deadline.region: unknown region 'DE-XY': 'DE' has no subdivision 'XY'",
        ),
    ],
)
def test_a_deadline_that_cannot_be_computed_is_refused(
    session: Session, deadline: dict[str, Any], loc: tuple[str | int, ...], message: str
) -> None:
    assert refusal(session, step("survey", deadline=deadline)) == (loc, message)


def test_a_deadline_from_a_field_needs_a_valid_offset(session: Session) -> None:
    deadline = {"from_field": {"step": "survey", "field": "visit"}, "offset": "1 day"}
    assert refusal(
        session, step("survey", fields=[date_field()]), step("offer", deadline=deadline)
    ) == (
        ("steps", 1, "deadline", "offset"),
        "step 'offer', deadline.offset: '1 day' is not an ISO 8601 duration "
        "(e.g. P3D, PT4H, P1DT12H)",
    )


@pytest.mark.parametrize(
    "steps",
    [
        # the date's step comes later
        [
            step("offer", deadline={"from_field": {"step": "survey", "field": "visit"}}),
            step("survey", fields=[date_field()]),
        ],
        # both open at once: nothing makes survey finish first
        [
            step("survey", fields=[date_field()]),
            step(
                "offer", requires=[], deadline={"from_field": {"step": "survey", "field": "visit"}}
            ),
        ],
        # its own field
        [
            step(
                "offer",
                fields=[date_field()],
                deadline={"from_field": {"step": "offer", "field": "visit"}},
            )
        ],
    ],
    ids=["later", "parallel", "itself"],
)
def test_a_deadline_from_a_step_that_does_not_finish_first_is_refused(
    session: Session, steps: list[dict[str, Any]]
) -> None:
    loc, message = refusal(session, *steps)
    at = next(i for i, s in enumerate(steps) if "deadline" in s)
    assert loc == ("steps", at, "deadline", "from_field", "step")
    assert message.endswith("does not finish before this one (name it in requires)")
    assert message.startswith(f"step '{steps[at]['key']}', deadline.from_field: step '")


@pytest.mark.parametrize(
    "fields", [[], [date_field("visit", "text")], [date_field("appointment")]], ids=str
)
def test_a_deadline_from_a_field_that_is_no_date_is_refused(
    session: Session, fields: list[dict[str, str]]
) -> None:
    deadline = {"from_field": {"step": "survey", "field": "visit"}}
    assert refusal(session, step("survey", fields=fields), step("offer", deadline=deadline)) == (
        ("steps", 1, "deadline", "from_field", "field"),
        "step 'offer', deadline.from_field: step 'survey' has no date field 'visit'",
    )


def test_a_bad_reminder_is_named_by_its_position(session: Session) -> None:
    survey = step("survey", deadline={"after": "P5D"}, reminders=["P1D", "1 day"])
    assert refusal(session, survey) == (
        ("steps", 0, "reminders", 1),
        "step 'survey', reminders[1]: '1 day' is not an ISO 8601 duration "
        "(e.g. P3D, PT4H, P1DT12H)",
    )


@pytest.mark.parametrize(
    ("more", "field"),
    [
        ({"reminders": ["P1D"]}, "reminders"),
        ({"escalation": {"notify_contact": True}}, "escalation"),
        ({"reminders": ["P1D"], "escalation": {}}, "reminders"),
    ],
)
def test_reminders_or_an_escalation_need_a_deadline(
    session: Session, more: dict[str, Any], field: str
) -> None:
    assert refusal(session, step("survey", **more)) == (
        ("steps", 0, field),
        f"step 'survey', {field}: the step has no deadline",
    )


def test_a_bad_grace_period_is_refused(session: Session) -> None:
    survey = step("survey", deadline={"after": "P5D"}, escalation={"grace": "two days"})
    assert refusal(session, survey) == (
        ("steps", 0, "escalation", "grace"),
        "step 'survey', escalation.grace: 'two days' is not an ISO 8601 duration "
        "(e.g. P3D, PT4H, P1DT12H)",
    )


# who the steps go to -------------------------------------------------------------------------


def test_a_step_for_an_unknown_partner_is_refused(session: Session) -> None:
    nobody = uuid4()
    offer = step("offer", assignee={"type": "partner", "partner_id": str(nobody)})
    assert refusal(session, step("survey"), offer) == (
        ("steps", 1, "assignee", "partner_id"),
        f"step 'offer', assignee: unknown partner {nobody}",
    )


@pytest.mark.parametrize(
    ("status", "why"),
    [
        ("invited", "has not accepted its invitation yet"),
        ("declined", "declined its invitation"),
        ("revoked", "was revoked"),
    ],
)
def test_a_step_for_a_partner_that_is_not_active_is_refused(
    session: Session, status: PartnerStatus, why: str
) -> None:
    solar = partner(session, status)
    offer = step("offer", assignee={"type": "partner", "partner_id": str(solar)})
    assert refusal(session, offer) == (
        ("steps", 0, "assignee", "partner_id"),
        f"step 'offer', assignee: partner {solar} (Solar GmbH) {why}: only an active partner "
        "can be given work",
    )


def test_a_step_for_an_unknown_or_a_partners_user_is_refused(session: Session) -> None:
    partners_user = user(session, partner_id=partner(session))
    for user_id in (uuid4(), partners_user):
        offer = step("offer", assignee={"type": "user", "user_id": str(user_id)})
        assert refusal(session, offer) == (
            ("steps", 0, "assignee", "user_id"),
            f"step 'offer', assignee: unknown user {user_id}",
        )


def test_an_escalation_to_someone_unknown_is_refused_at_reassign_to(session: Session) -> None:
    nobody = uuid4()
    offer = step(
        "offer",
        deadline={"after": "P3D"},
        escalation={"reassign_to": {"type": "partner", "partner_id": str(nobody)}},
    )
    assert refusal(session, step("survey"), offer) == (
        ("steps", 1, "escalation", "reassign_to", "partner_id"),
        f"step 'offer', escalation.reassign_to: unknown partner {nobody}",
    )


def test_an_unknown_hand_over_email_is_refused(session: Session) -> None:
    missing = uuid4()
    assert refusal(session, step("survey", on_activate_email=str(missing))) == (
        ("steps", 0, "on_activate_email"),
        f"step 'survey': unknown e-mail template {missing}",
    )


def test_the_first_problem_in_order_of_the_checks_is_the_one_refused(session: Session) -> None:
    # An unknown requirement is found before the deadline and the partner, whatever their order.
    bad = step(
        "survey",
        assignee={"type": "partner", "partner_id": str(uuid4())},
        deadline={"after": "soon"},
    )
    loc, _ = refusal(session, bad, step("offer", requires=["nope"]))
    assert loc == ("steps", 1, "requires")


# the template's other parts -------------------------------------------------------------------


def test_an_unknown_time_zone_is_refused() -> None:
    check_timezone("Europe/Berlin")
    for name in ("Europe/Bonn", "../etc/passwd", ""):
        with pytest.raises(Refused) as error:
            check_timezone(name)
        assert (error.value.loc, error.value.message) == (
            ("timezone",),
            f"unknown time zone '{name}'",
        )


def test_the_slots_a_start_binds_include_escalation_targets() -> None:
    steps = specs(
        step("survey", assignee={"type": "partner_slot", "slot": "installer"}),
        step(
            "offer",
            deadline={"after": "P1D"},
            escalation={"reassign_to": {"type": "partner_slot", "slot": "backup"}},
        ),
        step("install", assignee={"type": "partner_slot", "slot": "installer"}),
    )
    assert partner_slots(steps) == {"installer", "backup"}


# assignees in words --------------------------------------------------------------------------


def test_each_assignee_is_said_by_name_in_the_builder(session: Session) -> None:
    solar, anna = partner(session), user(session)
    names = assignees.names_of(session, {solar}, {anna})
    assert names == {solar: "Solar GmbH", anna: "Anna Berg"}
    said = [
        assignees.in_words(PartnerAssignee(type="partner", partner_id=solar), names),
        assignees.in_words(UserAssignee(type="user", user_id=anna), names),
        assignees.in_words(PartnerSlotAssignee(type="partner_slot", slot="installer"), names),
        assignees.in_words(ContactAssignee(type="contact"), names),
        assignees.in_words(PartnerAssignee(type="partner", partner_id=uuid4()), names),
        assignees.in_words(UserAssignee(type="user", user_id=uuid4()), names),
    ]
    assert said == [
        "Solar GmbH",
        "Anna Berg",
        "partner slot “installer”",
        "the contact person",
        "an unknown partner",
        "an unknown user",
    ]


def test_running_steps_assignees_are_said_by_name(session: Session) -> None:
    solar, anna = partner(session), user(session)
    running = [
        {"type": "partner", "partner_id": str(solar)},
        {"type": "user", "user_id": str(anna)},
        {"type": "partner_slot", "slot": "installer"},
        {"type": "contact", "user_id": str(anna)},
        {"type": "partner", "partner_id": str(uuid4())},
    ]
    assert assignees.assignee_names(session, running) == [
        "Solar GmbH",
        "Anna Berg",
        "partner (installer)",
        "contact person",
        "a partner",
    ]


@pytest.mark.parametrize(
    "assignee",
    [
        PartnerAssignee(type="partner", partner_id=uuid4()),
        PartnerSlotAssignee(type="partner_slot", slot="installer"),
        UserAssignee(type="user", user_id=uuid4()),
        ContactAssignee(type="contact"),
    ],
    ids=lambda a: a.type,
)
def test_each_assignee_goes_through_the_editor_and_back(
    assignee: PartnerAssignee | PartnerSlotAssignee | UserAssignee | ContactAssignee,
) -> None:
    inputs = assignees.form_inputs(assignee)
    chosen = assignees.from_form(inputs["assignee_type"], dict(inputs))  # type: ignore[arg-type]
    assert chosen is not None
    assert StepSpec.model_validate(step("survey", assignee=chosen)).assignee == assignee
    handed = assignees.from_handover_choice(assignees.handover_choice(assignee))
    assert handed is not None
    assert StepSpec.model_validate(step("survey", assignee=handed)).assignee == assignee


def test_no_hand_over_and_a_made_up_one_are_nobody() -> None:
    assert assignees.handover_choice(None) == ""
    assert assignees.from_handover_choice("") is None
    assert assignees.from_handover_choice("robot:1") is None
    assert assignees.from_form("robot", {}) is None
