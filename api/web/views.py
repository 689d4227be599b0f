"""What the process pages share: a step's definition, its time zone, comments and documents,
its history in words."""

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import and_
from sqlmodel import Session, col, select

from api.web.i18n import N_, pgettext
from api.web.i18n import gettext as _
from partnerflow import diagram
from partnerflow.models import (
    Comment,
    Document,
    Process,
    ProcessTemplate,
    ProcessTemplateVersion,
)
from partnerflow.process_templates import published_version
from partnerflow.settings import get_settings
from partnerflow.spec import StepSpec, StepStatus


def step_specs(session: Session, process: Process) -> dict[str, StepSpec]:
    """The definition of each step the process runs on: its published version, or for a test
    run of a draft (version 0), the template as it is now."""
    version = published_version(session, process.template_id, process.template_version)
    if version is not None:
        specs = [StepSpec.model_validate(step) for step in version.snapshot.get("steps", [])]
    else:
        template = session.get(ProcessTemplate, process.template_id)
        specs = template.step_specs() if template else []
    return {spec.key: spec for spec in specs}


def template_of(session: Session, process: Process) -> ProcessTemplate | None:
    return session.get(ProcessTemplate, process.template_id)


def timezone_of(session: Session, process: Process) -> str:
    """The time zone the process runs in: its deadlines, its history and what a person types
    into its forms are all shown and read in it."""
    return timezones_of(session, [process.id]).get(process.id, get_settings().default_timezone)


def timezones_of(session: Session, process_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Each process's time zone: the one of the version it runs on (its deadlines were set
    in it, even if the template moved to another zone since), the template's for a test run
    of a draft (version 0)."""
    rows = session.exec(
        select(Process.id, ProcessTemplateVersion.snapshot, ProcessTemplate.timezone)
        .join(ProcessTemplate, col(ProcessTemplate.id) == Process.template_id)
        .outerjoin(
            ProcessTemplateVersion,
            and_(
                col(ProcessTemplateVersion.template_id) == Process.template_id,
                col(ProcessTemplateVersion.version) == Process.template_version,
            ),
        )
        .where(col(Process.id).in_(set(process_ids)))
    )
    return {
        process_id: (snapshot or {}).get("timezone")
        or template_zone
        or get_settings().default_timezone
        for process_id, snapshot, template_zone in rows
    }


def comments_by_step(
    session: Session, process_id: uuid.UUID, step_key: str | None = None
) -> dict[str, list[Comment]]:
    """The process's comments (or one step's), each step's in the order they were written."""
    statement = select(Comment).where(Comment.process_id == process_id)
    if step_key is not None:
        statement = statement.where(Comment.step_key == step_key)
    grouped: dict[str, list[Comment]] = {}
    for comment in session.exec(statement.order_by(col(Comment.created_at))):
        grouped.setdefault(comment.step_key, []).append(comment)
    return grouped


def uploaded_counts(session: Session, process_id: uuid.UUID, step_key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for document_type in session.exec(
        select(Document.type).where(
            Document.process_id == process_id,
            Document.step_key == step_key,
            Document.status == "attached",
        )
    ):
        counts[document_type] = counts.get(document_type, 0) + 1
    return counts


# A timeline entry's event as the history says it (TimelineEntry.event; an event not here is
# said with its underscores as spaces, a failure as "… failed").
EVENT_WORDS = {
    "process_started": N_("process started"),
    "process_completed": N_("process finished"),
    "process_cancelled": N_("process cancelled"),
    "step_activated": N_("step opened"),
    "step_completed": N_("step done"),
    "step_skipped": N_("step skipped"),
    "step_not_applicable": N_("does not apply: its condition did not hold"),
    "step_submitted": N_("finished, waiting for review"),
    "changes_requested": N_("changes requested"),
    "step_approved": N_("approved"),
    "step_declined": N_("handed back"),
    "step_reassigned": N_("handed to someone else"),
    "deadline_set": N_("deadline moved"),
    "document_added": N_("document uploaded"),
    "reminder_sent": N_("reminder sent"),
    "step_overdue": N_("deadline passed"),
    "step_escalated": N_("escalated"),
    "step_at_risk": N_("likely to be late"),
    "partner_revoked": N_("partner revoked"),
    "step_offered": N_("step offered"),
    "offer_made": N_("offer made"),
    "offer_accepted": N_("offer accepted"),
    "offer_declined": N_("offer declined"),
    "offer_turn_ended": N_("offer turn ended"),
    "offer_expired": N_("offer expired"),
    "step_substituted": N_("step substituted"),
}
# The catalog's context of the e-mail kinds' words (`email_kind`).
EMAIL_KIND = "e-mail kind"
# What a step's review shows: its rounds, with why the reviewer sent it back, and declines.
REVIEW_EVENTS = ("step_submitted", "changes_requested", "step_approved", "step_declined")


def event_in_words(event: str) -> str:
    """In the reader's language (an event this list lacks: its name, as it is)."""
    if event in EVENT_WORDS:
        return _(EVENT_WORDS[event])
    if event.endswith("_failed"):  # `<e-mail kind or source>_failed`
        kind = event.removesuffix("_failed")
        word = email_kind(kind)
        return _("%(what)s failed") % {"what": word if word != kind else kind.replace("_", " ")}
    return event.replace("_", " ")


def flashed(flashes: Mapping[str, str], key: str | None) -> str | None:
    """The flash a page's address names by its key (never its text), in the reader's
    language; None for no key or one the page does not know."""
    text = flashes.get(key or "")
    return _(text) if text else None


def email_kind(kind: str) -> str:
    """An e-mail's kind (models.OutboxKind) as the outbox names it: the kind itself in
    English, a word in German (the catalog's context "e-mail kind")."""
    return pgettext(EMAIL_KIND, kind)


def review_history(timeline: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Each step's review rounds and declines, oldest first (`timeline` with its notes'
    texts as `detail`, as the process detail has it)."""
    found: dict[str, list[Mapping[str, Any]]] = {}
    for entry in timeline:
        if entry.get("event") in REVIEW_EVENTS and entry.get("step_key"):
            found.setdefault(str(entry["step_key"]), []).append(entry)
    return found


def states_of(steps: Iterable[Any]) -> dict[str, StepStatus]:
    """The steps' states as the diagram colours them (a status it does not know: none)."""
    return {
        step.key: status for step in steps if (status := diagram.status_of(step.status)) is not None
    }
