"""What a process says in the Temporal UI, word for word (workflows/summaries.py): pure."""

import uuid
from datetime import UTC, datetime

from partnerflow.spec import EmailKind
from workflows import summaries
from workflows.messages import (
    AttentionNote,
    EmailRequest,
    NotificationRequest,
    ProcessState,
    ResolvedAssignee,
    StepState,
)

PROCESS = uuid.UUID("11111111-1111-4111-8111-111111111111")
PARTNER = uuid.UUID("22222222-2222-4222-8222-222222222222")
USER = uuid.UUID("33333333-3333-4333-8333-333333333333")
OPPORTUNITY = uuid.UUID("44444444-4444-4444-8444-444444444444")


def test_a_deadline_reads_in_the_templates_time_zone_across_daylight_saving() -> None:
    winter = datetime(2026, 12, 11, 22, 59, tzinfo=UTC)
    summer = datetime(2026, 6, 11, 21, 59, tzinfo=UTC)
    assert summaries.local_time(winter, "Europe/Berlin") == "2026-12-11 23:59 Europe/Berlin"
    assert summaries.local_time(summer, "Europe/Berlin") == "2026-06-11 23:59 Europe/Berlin"
    assert summaries.deadline_timer("install", winter, "Europe/Berlin") == (
        "deadline of step install (due 2026-12-11 23:59 Europe/Berlin)"
    )
    assert summaries.reminder_timer("install", 2, "PT4H", winter, "Europe/Berlin") == (
        "reminder 2 for step install (PT4H before the deadline 2026-12-11 23:59 Europe/Berlin)"
    )
    assert summaries.escalation_timer("install", None, winter, "Europe/Berlin") == (
        "escalation of step install: reassign at the deadline 2026-12-11 23:59 Europe/Berlin"
    )


def test_a_test_run_of_a_draft_says_so() -> None:
    assert summaries.process_summary("PV", 3, OPPORTUNITY, test=False) == (
        f"PV v3, opportunity {OPPORTUNITY}"
    )
    assert summaries.process_summary("PV", 0, OPPORTUNITY, test=True) == (
        f"test run of PV draft, opportunity {OPPORTUNITY}"
    )


def test_the_process_page_keeps_the_public_urls_path() -> None:
    assert summaries.process_page_url("https://example.com/pf/", PROCESS) == (
        f"https://example.com/pf/processes/{PROCESS}"
    )


def _email(kind: EmailKind) -> EmailRequest:
    return EmailRequest(
        process_id=PROCESS, opportunity_id=OPPORTUNITY, contact_user_id=USER,
        to_partner_id=PARTNER, kind=kind, language="en", timezone="Europe/Berlin",
        step_key="install", step_name="Installation", idempotency_key="k",
    )  # fmt: skip


def test_each_email_and_notice_names_its_kind_step_and_recipient_by_id() -> None:
    assert summaries.outgoing(_email("handover"), retry=False) == (
        f"hand-over e-mail for step install to partner {PARTNER}"
    )
    assert summaries.outgoing(_email("deadline_changed"), retry=True) == (
        f"deadline-moved e-mail for step install to partner {PARTNER}, retrying until its cap"
    )
    notice = NotificationRequest(
        process_id=PROCESS, to_user_id=USER, kind="delivery_failed", step_key="install",
        message="Zustellung fehlgeschlagen: Installation", idempotency_key="k",
    )  # fmt: skip
    worded = summaries.outgoing(notice, retry=False)
    assert worded == f"delivery-failed notice for step install to user {USER}"
    assert "Installation" not in worded  # the step's name and the message stay out


def test_current_details_say_where_it_stands_in_ids_and_keys() -> None:
    at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    state = ProcessState(
        process_id=PROCESS, template_id=uuid.uuid4(), template_version=2,
        opportunity_id=OPPORTUNITY, contact_user_id=USER, partner_ids=[PARTNER],
        started_at=at, version=7,
        steps=[
            StepState(key="plan", name="Planung Familie Becker", status="completed",
                      assignee=ResolvedAssignee(type="contact", user_id=USER), requires=[]),
            StepState(key="install", name="Installation", status="active", overdue=True,
                      due_at=datetime(2026, 12, 11, 22, 59, tzinfo=UTC),
                      assignee=ResolvedAssignee(type="partner", partner_id=PARTNER),
                      requires=["plan"]),
            StepState(key="accept", name="Abnahme", assignee=ResolvedAssignee(type="contact"),
                      requires=["install"]),
        ],
        attention=[AttentionNote(at=at, source="email", step_key="install", kind="handover",
                                 error_type="PermanentDeliveryError", reason="SMTP 554")],
    )  # fmt: skip
    assert summaries.current_details(state, "Europe/Berlin").splitlines() == [
        "**running**, state v7",
        "",
        f"- `install`: active, with partner {PARTNER}, due 2026-12-11 23:59 Europe/Berlin "
        "(overdue)",
        "- `accept`: waits for install",
        "- needs attention: handover for step install failed for good",
    ]
