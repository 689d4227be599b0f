"""What a process tells an operator in the Temporal UI and CLI (user metadata), pure.

Temporal shows a one-line summary on the execution, on each timer and on each activity, and
the execution's details (markdown). Partnerflow fills them with what an operator needs to
read a process without decoding payloads: the template's name and version, the step a timer
guards or an e-mail is for, a deadline in the template's time zone, the state version a
write records. Ids, step keys, kinds and dates only: never a person's name, address, e-mail
or anything a person wrote (tests/system/test_no_personal_data_in_temporal.py scans for them).
Summaries are user metadata: the SDK's replay check ignores them, so changing a text needs no
`workflow.patched` (tests/workflows/test_replay.py replays histories recorded with older texts).
"""

from datetime import datetime
from uuid import UUID

from partnerflow.spec import zone
from workflows.messages import EmailRequest, NotificationRequest, ProcessState

# The e-mail kinds as an operator reads them ("hand-over e-mail for step install").
_EMAIL_WORDS = {
    "handover": "hand-over",
    "reminder": "reminder",
    "overdue": "overdue",
    "completion": "completion",
    "cancelled": "step-cancelled",
    "reassigned": "reassigned-away",
    "deadline_changed": "deadline-moved",
    "partner_revoked": "partner-revoked",
    "changes_requested": "changes-requested",
    "step_declined": "step-declined",
    "offer": "offer",
    "offer_withdrawn": "offer-withdrawn",
    "appointment": "appointment-confirmed",
}
_NOTICE_WORDS = {
    "step_assigned": "step-assigned",
    "step_completed": "step-completed",
    "step_overdue": "step-overdue",
    "delivery_failed": "delivery-failed",
    "partner_revoked": "partner-revoked",
    "step_at_risk": "step-at-risk",
    "review_requested": "review-requested",
    "changes_requested": "changes-requested",
    "step_declined": "step-declined",
    "offer": "offer",
    "offer_withdrawn": "offer-withdrawn",
    "offer_expired": "offer-expired",
    "step_substituted": "step-substituted",
}


def local_time(moment: datetime, timezone: str) -> str:
    """`2026-12-11 23:59 Europe/Berlin`: a moment as the template's people read it."""
    return f"{moment.astimezone(zone(timezone)):%Y-%m-%d %H:%M} {timezone}"


def process_summary(template_name: str, version: int, opportunity_id: UUID, test: bool) -> str:
    """The execution's one line: which process, on which version, for which opportunity."""
    which = f"v{version}" if version else "draft"
    run = "test run of " if test else ""
    return f"{run}{template_name} {which}, opportunity {opportunity_id}"


def process_page_url(public_url: str, process_id: UUID) -> str:
    """The staff page of a process, as people reach Partnerflow (PARTNERFLOW_PUBLIC_URL)."""
    return f"{public_url.rstrip('/')}/processes/{process_id}"


def process_details(
    *,
    process_id: UUID,
    template_id: UUID,
    template_name: str,
    version: int,
    opportunity_id: UUID,
    public_url: str,
    automation_id: UUID | None = None,
) -> str:
    """The execution's details (Temporal markdown): ids, and the link to the process page."""
    which = f"version {version}" if version else "the unpublished draft (test run)"
    started = [f"- started by automation `{automation_id}`"] if automation_id else []
    return "\n".join(
        [
            f"**{template_name}**, {which}",
            "",
            f"- process `{process_id}`",
            f"- template `{template_id}`",
            f"- opportunity `{opportunity_id}`",
            *started,
            "",
            f"[Open the process in Partnerflow]({process_page_url(public_url, process_id)})",
        ]
    )


def reminder_timer(step_key: str, number: int, offset: str, due_at: datetime, tz: str) -> str:
    return (
        f"reminder {number} for step {step_key} "
        f"({offset} before the deadline {local_time(due_at, tz)})"
    )


def deadline_timer(step_key: str, due_at: datetime, tz: str) -> str:
    return f"deadline of step {step_key} (due {local_time(due_at, tz)})"


def review_deadline_timer(step_key: str, due_at: datetime, tz: str) -> str:
    """The deadline of a step waiting for its reviewer: only the overdue mark is left."""
    return f"deadline of step {step_key} while in review (due {local_time(due_at, tz)})"


def escalation_timer(step_key: str, grace: str | None, due_at: datetime, tz: str) -> str:
    after = f"{grace} after" if grace else "at"
    return f"escalation of step {step_key}: reassign {after} the deadline {local_time(due_at, tz)}"


def offer_turn_timer(step_key: str, partner_id: UUID, at: datetime, tz: str) -> str:
    """A ranked offer's turn: unanswered by then, the next partner is asked."""
    return f"offer of step {step_key}: turn of partner {partner_id} ends {local_time(at, tz)}"


def offer_expiry_timer(step_key: str, at: datetime, tz: str) -> str:
    """Nobody accepted by then: the contact person gets the step."""
    return f"offer of step {step_key} expires {local_time(at, tz)} (then it is the contact's)"


def record_state(version: int) -> str:
    return f"record state v{version}"


def rewrite_timer(version: int) -> str:
    return f"write state v{version} again: the read model refused it"


def _recipient(to_partner_id: UUID | None, to_user_id: UUID | None) -> str:
    if to_partner_id is not None:
        return f" to partner {to_partner_id}"
    if to_user_id is not None:
        return f" to user {to_user_id}"
    return ""


def outgoing(item: EmailRequest | NotificationRequest, *, retry: bool) -> str:
    """`hand-over e-mail for step install to partner <id>`; a retry says so."""
    if isinstance(item, EmailRequest):
        what = f"{_EMAIL_WORDS.get(item.kind, item.kind)} e-mail"
    else:
        what = f"{_NOTICE_WORDS.get(item.kind, item.kind)} notice"
    step = f" for step {item.step_key}" if item.step_key else ""
    again = ", retrying until its cap" if retry else ""
    return f"{what}{step}{_recipient(item.to_partner_id, item.to_user_id)}{again}"


def business_days(step_key: str, count: int, region: str | None) -> str:
    where = f" ({region})" if region else ""
    return f"deadline of step {step_key}: {count} business days{where}"


def current_details(state: ProcessState, timezone: str) -> str:
    """Where the process stands now (Temporal's "current details"): its open steps, who holds
    each (ids), their deadlines, and whether it needs attention. Markdown, ids and keys only."""
    lines = [f"**{state.status}**, state v{state.version}", ""]  # markdown: a list follows
    for step in state.steps:
        if step.status not in ("active", "pending", "in_review", "offered"):
            continue
        if step.status == "pending":
            lines.append(f"- `{step.key}`: waits for {', '.join(step.requires) or 'nothing'}")
            continue
        if step.status == "offered":
            asked = ", ".join(
                f"partner {o.partner_id}" for o in step.offers if o.status == "pending"
            )
            until = (
                f", expires {local_time(step.offer_expires_at, timezone)}"
                if step.offer_expires_at
                else ""
            )
            lines.append(f"- `{step.key}`: offered to {asked or 'nobody'}{until}")
            continue
        due = f", due {local_time(step.due_at, timezone)}" if step.due_at else ""
        late = " (overdue)" if step.overdue else ""
        if step.status == "in_review":
            reviewer = f"user {step.reviewer_user_id}" if step.reviewer_user_id else "nobody"
            # round 1 is the first submission; each request for changes starts another
            rounds = f", round {step.review_rounds + 1}"
            lines.append(f"- `{step.key}`: in review by {reviewer}{rounds}{due}{late}")
            continue
        who = step.assignee
        holder = (
            f"partner {who.partner_id}"
            if who.partner_id is not None
            else (f"user {who.user_id}" if who.user_id is not None else who.type)
        )
        standing_in = (
            f" (for user {step.substitute_for_user_id})" if step.substitute_for_user_id else ""
        )
        lines.append(f"- `{step.key}`: active, with {holder}{standing_in}{due}{late}")
    for note in state.attention:
        where = f" for step {note.step_key}" if note.step_key else ""
        lines.append(f"- needs attention: {note.kind or note.source}{where} failed for good")
    return "\n".join(lines)
