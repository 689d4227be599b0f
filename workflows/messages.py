"""The payloads that cross Temporal: the process input, updates, state, e-mails and notices.

One pydantic model per call, so a field can be added without breaking callers.
Ids and what steps record only; personal data stays in the database. No person's name, file
name, comment or free-text reason crosses into Temporal: a reason is a `ProcessNote` row the
API writes first, and the workflow carries its id (the read model resolves names and texts).
Fields that carried such data before are kept readable for recorded histories and never
written again (`exclude=True`: whatever a caller puts there stays out of every payload).
"""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from partnerflow.spec import (
    AssigneeKind,
    BoundAssignee,
    EmailKind,
    Language,
    ProcessStatus,
    Role,
    StepStatus,
    TemplateSnapshot,
)


def _legacy(description: str) -> Any:
    """A field histories recorded before "ids only" hold: read from them, never written."""
    return Field(default=None, exclude=True, description=description)


class Actor(BaseModel):
    """Who asks the workflow for something, as the API authenticated them (ids, no name)."""

    user_id: UUID
    name: str | None = _legacy("the person's name: the read model resolves it from user_id")
    role: Role
    partner_id: UUID | None = None
    permissions: list[str] = Field(default_factory=list)


class CompleteStepInput(BaseModel):
    step_key: str
    actor: Actor
    fields: dict[str, Any] = Field(default_factory=dict)


class SkipStepInput(BaseModel):
    step_key: str
    actor: Actor
    # the reason's text is a ProcessNote the API stored; None when none was given
    note_id: UUID | None = None
    reason: str | None = _legacy("the reason's text: a ProcessNote now (note_id)")


class SetDeadlineInput(BaseModel):
    step_key: str
    actor: Actor
    # ISO date (the end of that day in the template's time zone) or datetime
    due: str


class ReassignInput(BaseModel):
    step_key: str
    actor: Actor
    assignee: BoundAssignee


class DocumentRef(BaseModel):
    """An uploaded file as the workflow knows it: its id and type; the bytes and the file's
    name stay in storage and the database."""

    id: UUID
    type: str
    filename: str | None = _legacy("the file's name: the Document row has it")


class AddDocumentInput(BaseModel):
    step_key: str
    actor: Actor
    document: DocumentRef


class CancelInput(BaseModel):
    actor: Actor
    # the reason's text is a ProcessNote the API stored
    note_id: UUID | None = None
    reason: str | None = _legacy("the reason's text: a ProcessNote now (note_id)")


ReviewDecision = Literal["approve", "request_changes"]


class ReviewStepInput(BaseModel):
    """The reviewer's answer to a step `in_review`. Request changes needs a reason (a
    ProcessNote the API stored first); a new deadline may come in the same call."""

    step_key: str
    actor: Actor
    decision: ReviewDecision
    note_id: UUID | None = None
    # ISO date (the end of that day in the template's time zone) or datetime; None: unchanged
    due: str | None = None


class DeclineStepInput(BaseModel):
    """A partner hands an active step back; the reason is a ProcessNote the API stored."""

    step_key: str
    actor: Actor
    note_id: UUID | None = None


class AnswerOfferInput(BaseModel):
    """A partner's answer to an offer: accept (the first wins) or decline (the reason is a
    ProcessNote the API stored first)."""

    offer_id: UUID
    actor: Actor
    note_id: UUID | None = None


class Absence(BaseModel):
    """A staff user away from `starts_at` until `ends_at`: steps that open for them meanwhile
    open for the substitute; their open steps move to the substitute when it starts."""

    user_id: UUID
    starts_at: datetime
    ends_at: datetime
    substitute_user_id: UUID


class AbsenceInput(BaseModel):
    """An absence set, changed (`absence`) or withdrawn (`absence` None) for `user_id`."""

    user_id: UUID
    absence: Absence | None = None


class PartnerRevokedInput(BaseModel):
    """A partner organisation was revoked: nothing of this process may stay with it. Its open
    steps go to the contact person (who is told), and so does anything later bound to it."""

    partner_id: UUID


class AwaitRecordedInput(BaseModel):
    """Wait until the read model holds at least this version of the process (or its write
    failed for good: then the answer's `attention` says so)."""

    version: int = 1


class BusinessDaysInput(BaseModel):
    """A business-day deadline to compute outside workflow code: the holiday tables change
    with the `holidays` release, a recorded deadline must not."""

    start: datetime
    business_days: int
    timezone: str
    region: str


class ResolvedAssignee(BaseModel):
    """The step's assignee once slots and the contact person are bound to real ids."""

    type: AssigneeKind
    partner_id: UUID | None = None
    user_id: UUID | None = None
    slot: str | None = None


class CompletedBy(BaseModel):
    user_id: UUID
    name: str | None = _legacy("the person's name: the read model resolves it from user_id")
    partner_id: UUID | None = None
    # True when the contact person or an admin acted for the assignee.
    on_behalf: bool = False


OfferStatus = Literal["pending", "accepted", "declined", "expired", "withdrawn"]


class Offer(BaseModel):
    """One partner's offer of a step (OfferAssignee): made when the step opens (all at once)
    or when its turn comes (ranked)."""

    id: UUID
    partner_id: UUID
    status: OfferStatus = "pending"
    offered_at: datetime
    # until when this partner may accept: its turn's end (ranked) or the offer's expiry
    expires_at: datetime
    answered_at: datetime | None = None
    # a decline's reason: a ProcessNote's id
    note_id: UUID | None = None


class StepState(BaseModel):
    key: str
    name: str
    status: StepStatus = "pending"
    assignee: ResolvedAssignee
    requires: list[str]
    activated_at: datetime | None = None
    completed_at: datetime | None = None
    completed_by: CompletedBy | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    documents: list[DocumentRef] = Field(default_factory=list)
    due_at: datetime | None = None
    # True once someone set the deadline by hand: the template's rule no longer applies.
    due_set_by_hand: bool = False
    overdue: bool = False
    # reminder offsets already sent for the current due_at; emptied when the deadline moves
    reminders_sent: list[str] = Field(default_factory=list)
    escalated: bool = False
    # how often the step was handed to someone: part of each hand-over e-mail's key
    assignments: int = 0
    # review (StepSpec.review): who answers while the step is `in_review`, how often changes
    # were requested so far, and when the assignee last finished it for review
    reviewer_user_id: UUID | None = None
    review_rounds: int = 0
    submitted_at: datetime | None = None
    # offers (OfferAssignee), in the order they were made; when nobody may accept any more
    offers: list[Offer] = Field(default_factory=list)
    offer_expires_at: datetime | None = None
    # the absent user a step was meant for, when it went to their substitute
    substitute_for_user_id: UUID | None = None


AttentionSource = Literal["email", "notification", "read_model", "deadline"]


class AttentionNote(BaseModel):
    """Something that failed for good and needs a person: which part, for which step, why.

    `reason` is for people to read and carries no addresses (workflows/attention.py)."""

    at: datetime
    source: AttentionSource
    step_key: str | None = None
    # the e-mail's or notice's kind (handover, reminder, …)
    kind: str | None = None
    error_type: str
    reason: str


class TimelineEntry(BaseModel):
    at: datetime
    event: str
    step_key: str | None = None
    user_id: UUID | None = None
    # what the workflow knows in words: a reminder's offset, a deadline, a document type, why
    # something failed (redacted); never a text a person wrote
    detail: str | None = None
    # the text a person wrote (a reason) is a ProcessNote: its id, resolved by the read model
    note_id: UUID | None = None


class ProcessState(BaseModel):
    process_id: UUID
    template_id: UUID
    template_version: int
    opportunity_id: UUID
    contact_user_id: UUID
    partner_ids: list[UUID]
    status: ProcessStatus = "running"
    test: bool = False
    started_at: datetime
    completed_at: datetime | None = None
    # Only processes cancelled before "ids only" have it; the reason is a ProcessNote now,
    # named by the `process_cancelled` timeline entry's note_id.
    cancel_reason: str | None = None
    steps: list[StepState]
    timeline: list[TimelineEntry] = Field(default_factory=list)
    # Grows with every transition; the read model ignores a write older than what it holds.
    version: int = 0
    # What failed for good (newest last): the process is flagged `attention` while any is here.
    attention: list[AttentionNote] = Field(default_factory=list)
    # Partners revoked while the process ran: no step goes to them any more (the contact
    # person takes what would have), and no e-mail or notice is addressed to them.
    revoked_partner_ids: list[UUID] = Field(default_factory=list)
    # staff absences this process knows of (ProcessInput.absences, then the `absence` update)
    absences: list[Absence] = Field(default_factory=list)

    @property
    def next_due_at(self) -> datetime | None:
        # a step in review still runs against its deadline: the reviewer's answer is due then
        dues = [
            s.due_at
            for s in self.steps
            if s.status in ("active", "in_review") and s.due_at is not None
        ]
        return min(dues) if dues else None

    @property
    def needs_attention(self) -> bool:
        return bool(self.attention)

    @property
    def attention_reason(self) -> str | None:
        """The newest failure in words, for the read model and the dashboard."""
        if not self.attention:
            return None
        newest = self.attention[-1]
        what = {
            "email": f"E-mail '{newest.kind}'",
            "notification": f"Notice '{newest.kind}'",
            "read_model": "Writing the process to the database",
            "deadline": "Computing the deadline",
        }[newest.source]
        where = f" for step '{newest.step_key}'" if newest.step_key else ""
        earlier = len(self.attention) - 1
        more = f" (and {earlier} earlier)" if earlier else ""
        return f"{what}{where} failed: {newest.reason}{more}"


class EmailRequest(BaseModel):
    """All an e-mail activity needs from the workflow; it loads names and addresses itself.

    It goes to a partner organisation (its address and active users) or to one user."""

    process_id: UUID
    opportunity_id: UUID
    contact_user_id: UUID
    to_partner_id: UUID | None = None
    to_user_id: UUID | None = None
    # the partner an e-mail to someone else is about (`partner_revoked`: the contact person)
    about_partner_id: UUID | None = None
    kind: EmailKind
    language: Language
    timezone: str
    step_key: str
    step_name: str
    instructions: str = ""
    due_at: datetime | None = None
    email_template_id: UUID | None = None
    # what earlier steps recorded: step key -> field key -> value
    fields: dict[str, dict[str, Any]] = Field(default_factory=dict)
    test: bool = False
    # the reason a person wrote (changes_requested, step_declined): a ProcessNote's id, the
    # activity reads its text from the database
    note_id: UUID | None = None
    # Unique per e-mail: a retried activity finds the row it wrote and sends nothing twice.
    idempotency_key: str


# `step_at_risk` comes from the forecast (partnerflow/forecast.py), never from the workflow.
NotificationKind = Literal[
    "step_assigned",
    "step_completed",
    "step_overdue",
    "delivery_failed",
    "partner_revoked",
    "step_at_risk",
    "review_requested",  # to the reviewer: a step waits for their answer
    "changes_requested",  # to the assignee: the reviewer sent the step back
    "step_declined",  # to the contact person: a partner handed a step back
    "offer",  # to a partner: a step is offered to it
    "offer_withdrawn",  # to a partner offered a step: it went to another
    "offer_expired",  # to the contact person: nobody took the offer, the step is theirs
    "step_substituted",  # to the substitute and the absent user: a step moved between them
]


class NotificationRequest(BaseModel):
    """An in-app notice for one user, or for every active user of a partner organisation."""

    process_id: UUID
    to_user_id: UUID | None = None
    to_partner_id: UUID | None = None
    kind: NotificationKind
    step_key: str | None = None
    message: str
    idempotency_key: str


class TransitionWrite(BaseModel):
    """One transition for the read model: the state, and the notices queued since the last
    write that was settled, written in the same transaction."""

    state: ProcessState
    notices: list[NotificationRequest] = Field(default_factory=list)
    # The history's length when the workflow task that made this state ran. A local
    # activity runs before its task is recorded: when the worker dies, the task runs again,
    # later in the history, and makes the same version anew (its clock has moved on). The
    # later attempt's write must win over the dead one's (activities/read_model.py).
    history_length: int = 0


class ProcessInput(BaseModel):
    process_id: UUID
    template: TemplateSnapshot
    opportunity_id: UUID
    contact_user_id: UUID
    # partner slot -> partner id, bound when the process starts
    partners: dict[str, UUID] = Field(default_factory=dict)
    test: bool = False
    # Set when the workflow continues as new: where the previous run left off.
    state: ProcessState | None = None
    outgoing: list[EmailRequest | NotificationRequest] = Field(default_factory=list)
    # The opportunity's values the version's conditions name (partnerflow/conditions.py),
    # by path ("opportunity.attributes.power_kw"); nothing else of the opportunity.
    facts: dict[str, Any] = Field(default_factory=dict)
    # step key -> the partners a `pool: "service_area"` offer goes to, in rank order, found
    # from the service areas when the process starts (partnerflow/service_areas.py)
    offer_pools: dict[str, list[UUID]] = Field(default_factory=dict)
    # the absences of staff users that have not ended when the process starts
    absences: list[Absence] = Field(default_factory=list)
    # The workflow code's version the run was started with (workflows/versions.py): it takes
    # every change up to it without a patch marker. 1: started before the input said.
    code_version: int = 1
