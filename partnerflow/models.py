"""The database tables: configuration, the e-mail outbox, and the read model of processes."""

import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import AutoString, Field, SQLModel

from partnerflow.db import UTCDateTime, utcnow
from partnerflow.settings import get_settings
from partnerflow.spec import EmailKind, Language, ProcessStatus, Role, StepSpec, StepStatus
from workflows.messages import OfferStatus

PartnerStatus = Literal["invited", "active", "declined", "revoked"]
# `superseded`: a newer invitation was sent
InvitationStatus = Literal["pending", "accepted", "declined", "superseded"]
# `attached` once the workflow took it; a `pending` one whose upload was cut short is attached
# or removed by the reconciler, as the workflow says
DocumentStatus = Literal["pending", "attached"]
OutboxStatus = Literal["queued", "sent", "failed"]
# What the outbox holds: a process's e-mails, and those of people's accounts.
OutboxKind = EmailKind | Literal["invitation", "magic_link", "welcome"]
NoteKind = Literal[
    "cancel_reason", "skip_reason", "review_reason", "decline_reason", "offer_decline_reason"
]
AutomationEvent = Literal["opportunity.created", "opportunity.updated"]
# `starting`: recorded, the workflow not yet confirmed
RunOutcome = Literal["starting", "started", "skipped", "failed"]
# whose completions a step's forecast read: its partner's, everyone's, or too few anywhere
RiskBasis = Literal["partner", "all_partners", "none"]


def _json(**kwargs: Any) -> Any:
    return Field(sa_column=Column(JSON, nullable=False), **kwargs)


def _one_of(length: int, **kwargs: Any) -> Any:
    """A column holding a member of the closed set its annotation names, as text."""
    return Field(sa_type=AutoString(length=length), **kwargs)


def _when(nullable: bool = False, **kwargs: Any) -> Any:
    if nullable:
        return Field(default=None, sa_type=UTCDateTime, nullable=True, **kwargs)
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, **kwargs)


DEFAULT_PARTNER_PERMISSIONS = ["steps:complete", "steps:set_deadline"]


class Partner(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200)
    email: str = Field(max_length=320)
    status: PartnerStatus = _one_of(16, default="invited")
    permissions: list[str] = _json(default_factory=lambda: list(DEFAULT_PARTNER_PERMISSIONS))
    created_at: datetime = _when()


class User(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200)
    email: str = Field(max_length=320, index=True)
    # admin | member for the owner's people; partner for a partner organisation's users
    role: Role = _one_of(16)
    partner_id: uuid.UUID | None = Field(default=None, foreign_key="partner.id", index=True)
    # switched off: no token, session or sign-in link of this user works
    active: bool = True
    deactivated_at: datetime | None = _when(nullable=True)
    created_at: datetime = _when()
    # the pages' language this user chose; None: the browser's (Accept-Language)
    language: Language | None = _one_of(2, default=None, nullable=True)


class ApiToken(SQLModel, table=True):
    """A bearer token; only its SHA-256 is kept, the token itself is shown once."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _when()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # written at most about once a minute per token, so authenticating stays a read
    last_used_at: datetime | None = _when(nullable=True)
    revoked_at: datetime | None = _when(nullable=True)


class EmailTemplate(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200)
    language: Language = _one_of(2, default="de")
    subject: str = Field(max_length=1000)
    body_html: str
    body_text: str | None = None
    created_at: datetime = _when()
    updated_at: datetime = _when()


class ProcessTemplate(SQLModel, table=True):
    """The process builder's object: the editable draft, and which version is published."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200)
    description: str = ""
    language: Language = _one_of(2, default="de")
    timezone: str = Field(default_factory=lambda: get_settings().default_timezone, max_length=64)
    contact_user_id: uuid.UUID = Field(foreign_key="user.id")
    steps: list[dict[str, Any]] = _json(default_factory=list)
    archived: bool = False
    published_version: int | None = None
    # True when the editable content differs from the published version (or none is published).
    draft_pending: bool = True
    created_at: datetime = _when()
    updated_at: datetime = _when()

    def step_specs(self) -> list[StepSpec]:
        """The editable steps as the template schema reads them (the column holds JSON)."""
        return [StepSpec.model_validate(step) for step in self.steps]


class ProcessTemplateVersion(SQLModel, table=True):
    """A published, immutable version: the snapshot a process starts on."""

    __table_args__ = (UniqueConstraint("template_id", "version"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    template_id: uuid.UUID = Field(foreign_key="processtemplate.id", index=True)
    version: int
    snapshot: dict[str, Any] = _json()
    created_at: datetime = _when()


class Opportunity(SQLModel, table=True):
    """A customer case; the only place customer data lives."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    title: str = Field(max_length=300)
    customer: dict[str, Any] = _json(default_factory=dict)
    product: str | None = Field(default=None, max_length=200)
    attributes: dict[str, Any] = _json(default_factory=dict)
    test: bool = False
    created_at: datetime = _when()
    updated_at: datetime = _when()
    # the customer asked for erasure: their personal data is gone (partnerflow/erasure.py)
    erased_at: datetime | None = _when(nullable=True)
    # the admin who erased it (no foreign key: SQLite adds a plain column in place)
    erased_by: uuid.UUID | None = None
    # an erasure is cancelling its processes: nothing may start or change meanwhile
    erasing_since: datetime | None = _when(nullable=True)


class Process(SQLModel, table=True):
    """Read model of one running process, written by the workflow's activity."""

    # What the lists and the scorecard ask of a step's process, from the index alone: whether
    # it runs and is a test (`GET /api/my/tasks`, 0022), its template (a scorecard, 0016).
    __table_args__ = (
        Index("ix_process_id_test_status_template", "id", "test", "status", "template_id"),
    )

    id: uuid.UUID = Field(primary_key=True)
    template_id: uuid.UUID = Field(foreign_key="processtemplate.id", index=True)
    template_version: int
    opportunity_id: uuid.UUID = Field(foreign_key="opportunity.id", index=True)
    contact_user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    partner_ids: list[str] = _json(default_factory=list)
    status: ProcessStatus = _one_of(16, default="running", index=True)
    test: bool = False
    started_at: datetime = _when()
    completed_at: datetime | None = _when(nullable=True)
    cancel_reason: str | None = Field(default=None, max_length=2000)
    # the soonest deadline of an open step: lists sort and filter on it
    next_due_at: datetime | None = _when(nullable=True, index=True)
    timeline: list[dict[str, Any]] = _json(default_factory=list)
    version: int = 0
    # the workflow history's length when the task that made `version` ran (activities/read_model.py)
    recorded_event: int = 0
    # Something failed for good (an e-mail, a write): a person should look, and why.
    attention: bool = Field(default=False, index=True)
    attention_reason: str | None = Field(default=None, max_length=2000)


class ProcessStep(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("process_id", "key"),
        # a partner's scorecard: its completed steps in a period (and what the scorecard reads
        # of each, so that the index alone answers: migration 0016), its open ones
        Index(
            "ix_processstep_partner_status_completed",
            "assignee_partner_id",
            "status",
            "completed_at",
            "activated_at",
            "submitted_at",
            "due_at",
            "key",
            "name",
            "process_id",
        ),
        # the dashboard's open steps by deadline week
        Index("ix_processstep_status_due", "status", "due_at"),
        # the processes with an open step past its deadline (`?overdue=true`): few of many
        Index("ix_processstep_overdue_status_process", "overdue", "status", "process_id"),
        # the forecast's samples from all partners: the newest completions of a step key
        Index("ix_processstep_key_status_completed", "key", "status", "completed_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    process_id: uuid.UUID = Field(foreign_key="process.id", index=True)
    position: int
    key: str = Field(max_length=64)
    name: str = Field(max_length=200)
    status: StepStatus = _one_of(16)
    assignee: dict[str, Any] = _json()
    assignee_partner_id: uuid.UUID | None = Field(default=None, index=True)
    assignee_user_id: uuid.UUID | None = Field(default=None, index=True)
    activated_at: datetime | None = _when(nullable=True)
    completed_at: datetime | None = _when(nullable=True)
    completed_by: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    fields: dict[str, Any] = _json(default_factory=dict)
    due_at: datetime | None = _when(nullable=True, index=True)
    overdue: bool = False
    # the late-step forecast of an open step with a deadline (partnerflow/forecast.py)
    late_probability: float | None = None
    expected_done_at: datetime | None = _when(nullable=True)
    risk_basis: RiskBasis | None = _one_of(16, default=None, nullable=True)
    risk_updated_at: datetime | None = _when(nullable=True)
    # review (StepSpec.review): who answers while the step is `in_review` (their tasks list
    # it), and how often changes were requested so far
    reviewer_user_id: uuid.UUID | None = Field(default=None, index=True)
    review_rounds: int = 0
    # when the assignee last finished a reviewed step: the partner's own time, which the
    # scorecard measures (completed_at is the reviewer's approval)
    submitted_at: datetime | None = _when(nullable=True)


class OutboxEmail(SQLModel, table=True):
    """Every e-mail, whatever the transport: rendered, decoded, with its delivery status."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    idempotency_key: str = Field(max_length=200, unique=True)
    process_id: uuid.UUID | None = Field(default=None, index=True)
    kind: OutboxKind = _one_of(32, index=True)
    to: str = Field(max_length=2000)
    subject: str = Field(max_length=1000)
    html: str
    text: str
    status: OutboxStatus = _one_of(16, default="queued")
    transport: str = Field(max_length=16)
    provider_message_id: str | None = Field(default=None, max_length=200)
    error: str | None = None
    created_at: datetime = _when()
    sent_at: datetime | None = _when(nullable=True)


class Notification(SQLModel, table=True):
    """An in-app notice for one user."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    idempotency_key: str = Field(max_length=300, unique=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    kind: str = Field(max_length=32)
    process_id: uuid.UUID | None = Field(default=None, index=True)
    step_key: str | None = Field(default=None, max_length=64)
    message: str = Field(max_length=2000)
    read: bool = False
    created_at: datetime = _when()


class Document(SQLModel, table=True):
    """An uploaded file: stored under `storage_key` (a generated id), never under its name."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    process_id: uuid.UUID = Field(foreign_key="process.id", index=True)
    step_key: str = Field(max_length=64)
    type: str = Field(max_length=64)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size: int
    sha256: str = Field(max_length=64)
    storage_key: str = Field(max_length=100)
    uploaded_by: uuid.UUID = Field(foreign_key="user.id")
    status: DocumentStatus = _one_of(16, default="pending", index=True)
    created_at: datetime = _when()


class Comment(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    process_id: uuid.UUID = Field(foreign_key="process.id", index=True)
    step_key: str = Field(max_length=64)
    author_id: uuid.UUID = Field(foreign_key="user.id")
    author_name: str = Field(max_length=200)
    body: str = Field(max_length=10_000)
    created_at: datetime = _when()


class ProcessNote(SQLModel, table=True):
    """Text a person wrote about a process that Temporal must not carry (a cancel, skip,
    review or decline reason): the API stores it before the update, the workflow knows only
    its id."""

    __table_args__ = (
        # a partner's scorecard: the steps it declined, and the changes requested of its work
        Index("ix_processnote_partner_kind_created", "partner_id", "kind", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    process_id: uuid.UUID = Field(foreign_key="process.id", index=True)
    step_key: str | None = Field(default=None, max_length=64)
    kind: NoteKind = _one_of(32)
    author_id: uuid.UUID = Field(foreign_key="user.id")
    # The partner whose record the note counts on: the one that declined the step, or whose
    # work the reviewer sent back. None for the others (a cancel, a skip, an approval).
    partner_id: uuid.UUID | None = None
    body: str = Field(max_length=2000)
    created_at: datetime = _when()


class IdempotentResponse(SQLModel, table=True):
    """The first answer to a call made with an `Idempotency-Key`, given again on a retry."""

    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user.id")
    key: str = Field(max_length=200)
    request: str = Field(max_length=500)
    status_code: int
    body: dict[str, Any] = _json()
    created_at: datetime = _when()


class Invitation(SQLModel, table=True):
    """A partner's invitation: a single-use, expiring link whose token is kept only hashed."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    partner_id: uuid.UUID = Field(foreign_key="partner.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    invited_by: uuid.UUID = Field(foreign_key="user.id")
    language: Language = _one_of(2, default="de")
    status: InvitationStatus = _one_of(16, default="pending")
    created_at: datetime = _when()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = _when(nullable=True)


class Automation(SQLModel, table=True):
    """When an opportunity event matches the filter, start a process of a template."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200)
    enabled: bool = True
    event: AutomationEvent = _one_of(32, index=True)
    filter: dict[str, Any] = _json(default_factory=dict)
    template_id: uuid.UUID = Field(foreign_key="processtemplate.id", index=True)
    partners: dict[str, str] = _json(default_factory=dict)
    created_at: datetime = _when()
    updated_at: datetime = _when()


class AutomationRun(SQLModel, table=True):
    """One automation meeting one opportunity event: the process it started, or why not."""

    __table_args__ = (UniqueConstraint("automation_id", "event_key"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    automation_id: uuid.UUID = Field(foreign_key="automation.id", index=True)
    opportunity_id: uuid.UUID = Field(foreign_key="opportunity.id")
    event: AutomationEvent = _one_of(32)
    event_key: str = Field(max_length=200)
    outcome: RunOutcome = _one_of(16, index=True)
    process_id: uuid.UUID | None = None
    reason: str | None = Field(default=None, max_length=2000)
    created_at: datetime = _when()


class WebSession(SQLModel, table=True):
    """A signed-in browser: the cookie holds a random token, this row only its hash."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    # the API token a staff member signed in with: revoking it ends the session too
    api_token_id: uuid.UUID | None = Field(default=None, foreign_key="apitoken.id")
    created_at: datetime = _when()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    ended_at: datetime | None = _when(nullable=True)


class MagicLink(SQLModel, table=True):
    """A partner user's sign-in link sent by e-mail: single use, expiring, stored hashed."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    # where the link leads after sign-in: a path inside the portal
    next_path: str = Field(default="/portal", max_length=500)
    created_at: datetime = _when()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = _when(nullable=True)


class RateLimitCount(SQLModel, table=True):
    """Requests counted for one key in one fixed window, shared by every API replica; rows
    whose window has passed are deleted as new windows begin."""

    # the SHA-256 of the key (a client's address, an e-mail address): counted, not kept
    key_hash: str = Field(max_length=64, primary_key=True)
    window_start: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    hits: int = 0
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)


class ServiceArea(SQLModel, table=True):
    """One postal code pattern a partner serves: a whole code ("80331") or a prefix ("50*")."""

    __table_args__ = (UniqueConstraint("partner_id", "country", "pattern"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    partner_id: uuid.UUID = Field(foreign_key="partner.id", index=True)
    country: str = Field(default="DE", max_length=2)
    pattern: str = Field(max_length=16)


class Absence(SQLModel, table=True):
    """A staff user away, and who takes their steps meanwhile (one absence per user: setting
    a new one replaces it)."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", unique=True)
    starts_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    ends_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    substitute_user_id: uuid.UUID = Field(foreign_key="user.id")
    created_at: datetime = _when()
    # when the absent user's open steps were moved to the substitute (the absence began)
    moved_at: datetime | None = _when(nullable=True)


class ProcessOffer(SQLModel, table=True):
    """Read model of one offer of a step to a partner (workflows/messages.py `Offer`), written
    with the process's state: a partner's open offers, and which process an offer id is in."""

    __table_args__ = (Index("ix_processoffer_partner_status", "partner_id", "status"),)

    id: uuid.UUID = Field(primary_key=True)
    process_id: uuid.UUID = Field(foreign_key="process.id", index=True)
    step_key: str = Field(max_length=64)
    partner_id: uuid.UUID = Field(foreign_key="partner.id")
    status: OfferStatus = _one_of(16, default="pending")
    offered_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    answered_at: datetime | None = _when(nullable=True)


WebhookDeliveryStatus = Literal["pending", "retrying", "succeeded", "failed"]


class WebhookSubscription(SQLModel, table=True):
    """A receiver of process events (partnerflow/webhooks.py): where, which events, and the
    secret its deliveries are signed with (Standard Webhooks, symmetric: kept to sign, shown
    once when made or rotated)."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    url: str = Field(max_length=2000)
    # partnerflow/webhook_events.py `WebhookEvent`s
    events: list[str] = _json(default_factory=list)
    enabled: bool = True
    secret: str = Field(max_length=100)
    # after a rotation the old secret signs too, until then, so receivers can switch over
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_secret_until: datetime | None = _when(nullable=True)
    # events that occurred before this are never sent: when it was made or last enabled
    active_since: datetime = _when()
    # why it was switched off by a delivery (the receiver answered 410 Gone)
    disabled_reason: str | None = Field(default=None, max_length=200)
    created_at: datetime = _when()
    updated_at: datetime = _when()


class WebhookDelivery(SQLModel, table=True):
    """One event for one subscription: the transactional outbox row, written with the process
    state that made the event, then carried by a WebhookDeliveryWorkflow per attempt series."""

    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        # a subscription's deliveries, newest first
        Index("ix_webhookdelivery_subscription_created", "subscription_id", "created_at"),
        # the reconciler's: series asked for whose workflow may never have started
        Index("ix_webhookdelivery_status_queued", "status", "queued_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    subscription_id: uuid.UUID = Field(foreign_key="webhooksubscription.id")
    # the body's `id` and the `webhook-id` header: the same on every attempt and redelivery
    event_id: uuid.UUID
    event_type: str = Field(max_length=32)
    process_id: uuid.UUID
    body: dict[str, Any] = _json()
    status: WebhookDeliveryStatus = _one_of(16, default="pending")
    # 1, then one more for each redelivery: a new attempt series, a new workflow
    series: int = 1
    attempts: int = 0
    response_status: int | None = None
    error: str | None = Field(default=None, max_length=500)
    created_at: datetime = _when()
    # when the current series was asked for
    queued_at: datetime = _when()
    finished_at: datetime | None = _when(nullable=True)


class WebhookAttempt(SQLModel, table=True):
    """One POST of a delivery: what the receiver answered and how long it took."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    delivery_id: uuid.UUID = Field(foreign_key="webhookdelivery.id", index=True)
    series: int
    number: int
    at: datetime = _when()
    response_status: int | None = None
    duration_ms: int
    error: str | None = Field(default=None, max_length=500)


class WebhookCursor(SQLModel, table=True):
    """How many of a process's timeline entries the outbox has turned into events."""

    process_id: uuid.UUID = Field(primary_key=True)
    seen: int = 0


class OutboxAttachment(SQLModel, table=True):
    """A file an outbox e-mail carries (a calendar invitation's .ics), stored with the e-mail:
    a retry sends what the first attempt stored, and the outbox serves it to admins."""

    __table_args__ = (UniqueConstraint("email_id", "position"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email_id: uuid.UUID = Field(foreign_key="outboxemail.id", index=True)
    # its place among the e-mail's attachments, from 0 (`/api/outbox/{id}/attachments/{n}`)
    position: int
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size: int
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class CalendarEvent(SQLModel, table=True):
    """The calendar event of one step of a process (UID `{process_id}-{step_key}@partnerflow`):
    its SEQUENCE, raised each time an .ics of it is made whose content differs from the last
    one's (`content_hash`), by e-mail or in a feed (partnerflow/calendar.py)."""

    process_id: uuid.UUID = Field(primary_key=True)
    step_key: str = Field(primary_key=True, max_length=64)
    sequence: int = 0
    content_hash: str = Field(max_length=64)
    changed_at: datetime = _when()


class CalendarFeed(SQLModel, table=True):
    """A user's calendar feed (`/calendar/{token}.ics`): the token is random and kept only as
    its SHA-256; a new feed revokes the one before."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _when()
    revoked_at: datetime | None = _when(nullable=True)
