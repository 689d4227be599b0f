"""A process's steps: complete, skip, move the deadline, reassign, documents and comments."""

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, UploadFile, status
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select
from temporalio.client import Client

from api.deps import Caller, CurrentCaller, SessionDep, SettingsDep, StaffCaller, TemporalDep
from api.errors import forbidden, invalid, not_found
from api.idempotent import IdempotencyKey, once
from api.listing import Page
from api.process_view import (
    DocumentPublic,
    ProcessDetail,
    run_update,
    updated_detail,
    visible_process,
    visible_step,
    with_note,
)
from partnerflow import crash_points, notes, uploads
from partnerflow.db import utcnow
from partnerflow.models import Comment, Document, ProcessStep, User
from partnerflow.partner_status import unbindable
from partnerflow.settings import Settings
from partnerflow.storage import DocumentStorage, UnsupportedFile, sanitize_filename
from workflows.messages import (
    CompleteStepInput,
    ContactAssignee,
    PartnerAssignee,
    ReassignInput,
    SetDeadlineInput,
    SkipStepInput,
    UserAssignee,
)
from workflows.partner_process import PartnerProcessWorkflow

router = APIRouter(prefix="/api/processes/{process_id}", tags=["steps"])

MAX_YEARS_AHEAD = 10  # a deadline further out is a typo
DOCUMENT_TYPE_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"


class StepComplete(BaseModel):
    fields: dict[str, Any] = Field(default_factory=dict)


class StepSkip(BaseModel):
    reason: str = Field(default="", max_length=2000)


class DeadlineSet(BaseModel):
    due_at: str = Field(
        max_length=40,
        description="ISO 8601 date (the end of that day in the template's time zone) or datetime",
    )


class StepReassign(BaseModel):
    assignee: Annotated[
        PartnerAssignee | UserAssignee | ContactAssignee, Field(discriminator="type")
    ]


class CommentCreate(BaseModel):
    body: str = Field(min_length=1, max_length=10_000)


class CommentPublic(BaseModel):
    id: uuid.UUID
    step_key: str
    author_id: uuid.UUID
    author_name: str
    body: str
    created_at: datetime


def _step_of_visible_process(
    session: Session, caller: Caller, process_id: uuid.UUID, step_key: str
) -> None:
    visible_process(session, caller, process_id)
    exists = session.exec(
        select(ProcessStep.id).where(
            ProcessStep.process_id == process_id, ProcessStep.key == step_key
        )
    ).first()
    if exists is None:
        not_found("step")


async def _updated(
    session: Session,
    temporal: Client,
    settings: Settings,
    caller: Caller,
    process_id: uuid.UUID,
    step_key: str,
    update: Any,
    payload: Any,
    update_id: str | None = None,
) -> ProcessDetail:
    """Run one update on a step of a visible process, then answer from the read model it wrote.

    Whether the caller may act on the step is the workflow's call: another partner's step
    in a process the caller can see is a 403 from its validator."""
    _step_of_visible_process(session, caller, process_id, step_key)
    return await updated_detail(
        session, temporal, settings, caller, process_id,
        lambda handle: handle.execute_update(update, payload, id=update_id),
    )  # fmt: skip


@router.post("/steps/{step_key}/complete", response_model=ProcessDetail)
async def complete_step(
    process_id: uuid.UUID,
    step_key: str,
    body: StepComplete,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: CurrentCaller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    request = f"POST /api/processes/{process_id}/steps/{step_key}/complete"
    update_id = (
        f"complete:{step_key}:{caller.user.id}:{idempotency_key}" if idempotency_key else None
    )
    payload = CompleteStepInput(step_key=step_key, actor=caller.actor(), fields=body.fields)

    async def complete() -> ProcessDetail:
        return await _updated(
            session, temporal, settings, caller, process_id, step_key,
            PartnerProcessWorkflow.complete_step, payload, update_id,
        )  # fmt: skip

    return await once(session, caller, idempotency_key, request, 200, complete)


@router.post("/steps/{step_key}/skip")
async def skip_step(
    process_id: uuid.UUID,
    step_key: str,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: StaffCaller,
    body: StepSkip | None = None,
) -> ProcessDetail:
    visible_step(session, caller, process_id, step_key)
    # The reason is stored here and the workflow gets its id: no free text in Temporal.
    reason = body.reason.strip() if body else ""
    note_id = None
    if reason:
        note_id = notes.write(
            session, process_id=process_id, step_key=step_key, kind="skip_reason",
            author_id=caller.user.id, body=reason,
        )  # fmt: skip
    payload = SkipStepInput(step_key=step_key, actor=caller.actor(), note_id=note_id)
    return await with_note(
        session, note_id,
        lambda: _updated(
            session, temporal, settings, caller, process_id, step_key,
            PartnerProcessWorkflow.skip_step, payload,
        ),
    )  # fmt: skip


@router.put("/steps/{step_key}/deadline")
async def set_deadline(
    process_id: uuid.UUID,
    step_key: str,
    body: DeadlineSet,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: CurrentCaller,
) -> ProcessDetail:
    try:
        due = (
            date.fromisoformat(body.due_at)
            if len(body.due_at) == 10
            else datetime.fromisoformat(body.due_at)
        )
    except ValueError:
        invalid("due_at", "not an ISO 8601 date (2026-12-11) or datetime (2026-12-11T14:00+01:00)")
    # Only what the calendar arithmetic cannot take; a date in the past is the workflow's call.
    if not 2000 <= due.year <= utcnow().year + MAX_YEARS_AHEAD:
        invalid("due_at", f"must lie within the next {MAX_YEARS_AHEAD} years")
    payload = SetDeadlineInput(step_key=step_key, actor=caller.actor(), due=body.due_at)
    return await _updated(
        session, temporal, settings, caller, process_id, step_key,
        PartnerProcessWorkflow.set_deadline, payload,
    )  # fmt: skip


@router.post("/steps/{step_key}/reassign")
async def reassign_step(
    process_id: uuid.UUID,
    step_key: str,
    body: StepReassign,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: StaffCaller,
) -> ProcessDetail:
    assignee = body.assignee
    if isinstance(assignee, PartnerAssignee):
        problem = unbindable(session, assignee.partner_id)
        if problem:
            invalid(["assignee", "partner_id"], problem)
    if isinstance(assignee, UserAssignee):
        user = session.get(User, assignee.user_id)
        if user is None or user.partner_id is not None or not user.active:
            invalid(["assignee", "user_id"], "no active user of the company with this id")
    payload = ReassignInput(step_key=step_key, actor=caller.actor(), assignee=assignee)
    return await _updated(
        session, temporal, settings, caller, process_id, step_key,
        PartnerProcessWorkflow.reassign, payload,
    )  # fmt: skip


# documents ----------------------------------------------------------------------------------


def _may_view_documents(caller: Caller) -> None:
    if not caller.may("documents:view"):
        forbidden("your organisation may not view documents (documents:view)")


@router.post("/steps/{step_key}/documents", status_code=status.HTTP_201_CREATED)
async def upload_document(
    process_id: uuid.UUID,
    step_key: str,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: CurrentCaller,
    file: Annotated[UploadFile, File()],
    type: Annotated[str, Form(min_length=1, max_length=64, pattern=DOCUMENT_TYPE_PATTERN)],
) -> DocumentPublic:
    visible_step(session, caller, process_id, step_key)
    if not caller.may("documents:upload"):
        forbidden("your organisation may not upload documents (documents:upload)")
    data = await file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            detail=f"file: larger than {settings.max_upload_bytes} bytes",
        )
    storage = DocumentStorage(settings.storage_dir)
    try:
        stored = storage.save(data)
    except UnsupportedFile as error:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, detail=f"file: {error}"
        ) from error
    document = Document(
        process_id=process_id,
        step_key=step_key,
        type=type,
        filename=sanitize_filename(file.filename or "document"),
        content_type=stored.content_type,
        size=stored.size,
        sha256=stored.sha256,
        storage_key=stored.storage_key,
        uploaded_by=caller.user.id,
        status="pending",
    )
    session.add(document)
    session.commit()
    public = DocumentPublic(**document.model_dump())
    crash_points.reached("upload.stored")
    payload = uploads.add_document_input(document, caller.actor())
    update_id = uploads.update_id(public.id)
    try:
        _step_of_visible_process(session, caller, process_id, step_key)
        session.rollback()  # release SQLite's read snapshot while the workflow writes
        await run_update(
            temporal, process_id,
            lambda handle: handle.execute_update(
                PartnerProcessWorkflow.add_document, payload, id=update_id
            ),
        )  # fmt: skip
    except HTTPException as refusal:
        # Refused by the checks or the workflow: it did not take the file, nor ever will. (The
        # answer is the document, not the process: nothing read after the workflow took it
        # can fail and remove a file the process now holds.)
        if refusal.status_code < 500:
            uploads.remove(session, storage, document)
        raise
    # Any other failure (a timeout, the client gone) leaves the outcome unknown: the upload
    # stays pending, and the reconciler attaches or removes it as the workflow says.
    crash_points.reached("upload.accepted")
    uploads.attach(session, public.id)
    return public


@router.get("/steps/{step_key}/documents")
def list_documents(
    process_id: uuid.UUID, step_key: str, session: SessionDep, caller: CurrentCaller
) -> Page[DocumentPublic]:
    visible_step(session, caller, process_id, step_key)
    _may_view_documents(caller)
    rows = session.exec(
        select(Document)
        .where(
            Document.process_id == process_id,
            Document.step_key == step_key,
            Document.status == "attached",
        )
        .order_by(col(Document.created_at))
    ).all()
    return Page(data=[DocumentPublic(**d.model_dump()) for d in rows], count=len(rows))


@router.get("/documents/{document_id}", response_class=FileResponse)
def download_document(
    process_id: uuid.UUID,
    document_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    caller: CurrentCaller,
) -> FileResponse:
    document = session.get(Document, document_id)
    if document is None or document.process_id != process_id or document.status != "attached":
        not_found("document")
    visible_step(session, caller, process_id, document.step_key)
    _may_view_documents(caller)
    return FileResponse(
        DocumentStorage(settings.storage_dir).path(document.storage_key),
        media_type=document.content_type,
        filename=document.filename,
        headers={"X-Content-Type-Options": "nosniff"},
    )


# comments -----------------------------------------------------------------------------------


@router.post("/steps/{step_key}/comments", status_code=status.HTTP_201_CREATED)
def add_comment(
    process_id: uuid.UUID,
    step_key: str,
    body: CommentCreate,
    session: SessionDep,
    caller: CurrentCaller,
) -> CommentPublic:
    visible_step(session, caller, process_id, step_key)
    comment = Comment(
        process_id=process_id,
        step_key=step_key,
        author_id=caller.user.id,
        author_name=caller.user.name,
        body=body.body,
    )
    session.add(comment)
    session.commit()
    return CommentPublic(**comment.model_dump())


@router.get("/steps/{step_key}/comments")
def list_comments(
    process_id: uuid.UUID, step_key: str, session: SessionDep, caller: CurrentCaller
) -> Page[CommentPublic]:
    visible_step(session, caller, process_id, step_key)
    rows = session.exec(
        select(Comment)
        .where(Comment.process_id == process_id, Comment.step_key == step_key)
        .order_by(col(Comment.created_at))
    ).all()
    return Page(data=[CommentPublic(**c.model_dump()) for c in rows], count=len(rows))
