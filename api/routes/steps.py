"""A process's steps: complete, skip, move the deadline, reassign, review, decline, documents
and comments."""

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, UploadFile, status
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from api.deps import CurrentCaller, SessionDep, SettingsDep, StaffCaller, TemporalDep
from api.downloads import download
from api.idempotent import IdempotencyKey, once
from api.listing import Page
from partnerflow import steps, uploads
from partnerflow.processes import DocumentPublic, ProcessDetail
from partnerflow.spec import BoundAssignee
from partnerflow.steps import CommentPublic, StepRef
from partnerflow.storage import UnsupportedFile
from workflows.messages import ReviewDecision

router = APIRouter(prefix="/api/processes/{process_id}", tags=["steps"])


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
    assignee: Annotated[BoundAssignee, Field(discriminator="type")]


class StepReview(BaseModel):
    decision: ReviewDecision = Field(
        description="`approve` completes the step; `request_changes` hands it back to its "
        "assignee with the reason"
    )
    reason: str = Field(
        default="",
        max_length=2000,
        description="what needs to change (required for `request_changes`); the assignee "
        "reads it in the e-mail and at the top of the step",
    )
    due_at: str | None = Field(
        default=None,
        max_length=40,
        description="with `request_changes`, a new deadline: ISO 8601 date (the end of that "
        "day in the template's time zone) or datetime; without it the deadline keeps running",
    )


class StepDecline(BaseModel):
    reason: str = Field(
        min_length=1,
        max_length=2000,
        description="why the step is handed back; the contact person reads it",
    )


class CommentCreate(BaseModel):
    body: str = Field(min_length=1, max_length=10_000)


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
    return await _once_per_key(
        session, caller, idempotency_key, process_id, step_key, "complete",
        lambda step, update_id: steps.complete(
            session, temporal, settings, caller, step, body.fields, update_id
        ),
    )  # fmt: skip


async def _once_per_key(
    session: SessionDep,
    caller: CurrentCaller,
    idempotency_key: str | None,
    process_id: uuid.UUID,
    step_key: str,
    action: str,
    update: Callable[[StepRef, str | None], Awaitable[ProcessDetail]],
) -> JSONResponse:
    """A step's update that an Idempotency-Key makes safe to retry: the first answer is kept
    for the key, and the workflow update gets an id from it (a retry joins the first)."""
    request = f"POST /api/processes/{process_id}/steps/{step_key}/{action}"
    update_id = (
        f"{action}:{step_key}:{caller.user.id}:{idempotency_key}" if idempotency_key else None
    )

    async def run() -> ProcessDetail:
        return await update(steps.step_of(session, caller, process_id, step_key), update_id)

    return await once(session, caller, idempotency_key, request, 200, run)


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
    step = steps.step_of(session, caller, process_id, step_key)
    reason = body.reason if body else ""
    return await steps.skip(session, temporal, settings, caller, step, reason)


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
    step = steps.step_of(session, caller, process_id, step_key)
    return await steps.set_deadline(session, temporal, settings, caller, step, body.due_at)


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
    step = steps.step_of(session, caller, process_id, step_key)
    return await steps.reassign(session, temporal, settings, caller, step, body.assignee)


@router.post("/steps/{step_key}/review", response_model=ProcessDetail)
async def review_step(
    process_id: uuid.UUID,
    step_key: str,
    body: StepReview,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: CurrentCaller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """The reviewer's answer to a step in review (the contact person, or the user the step
    names; an admin may answer for them): 403 for anyone else, 409 when the step is not in
    review or changes were requested as often as the step allows."""
    return await _once_per_key(
        session, caller, idempotency_key, process_id, step_key, "review",
        lambda step, update_id: steps.review(
            session, temporal, settings, caller, step,
            body.decision, body.reason, body.due_at, update_id,
        ),
    )  # fmt: skip


@router.post("/steps/{step_key}/decline", response_model=ProcessDetail)
async def decline_step(
    process_id: uuid.UUID,
    step_key: str,
    body: StepDecline,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: CurrentCaller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """A partner hands its active step back: the contact person gets it (and a notice and an
    e-mail with the reason); the partner no longer sees it. 403 for anyone but the partner the
    step is assigned to, 409 when the step is not active."""
    return await _once_per_key(
        session, caller, idempotency_key, process_id, step_key, "decline",
        lambda step, update_id: steps.decline(
            session, temporal, settings, caller, step, body.reason, update_id
        ),
    )  # fmt: skip


# documents ----------------------------------------------------------------------------------


@router.post("/steps/{step_key}/documents", status_code=status.HTTP_201_CREATED)
async def upload_document(
    process_id: uuid.UUID,
    step_key: str,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: CurrentCaller,
    file: Annotated[UploadFile, File()],
    type: Annotated[str, Form(min_length=1, max_length=64, pattern=uploads.DOCUMENT_TYPE_PATTERN)],
) -> DocumentPublic:
    data = await file.read(settings.max_upload_bytes + 1)
    try:
        return await uploads.upload(
            session, temporal, settings, caller, process_id, step_key,
            data=data, filename=file.filename, document_type=type,
        )  # fmt: skip
    except UnsupportedFile as error:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, detail=f"file: {error}"
        ) from error


@router.get("/steps/{step_key}/documents")
def list_documents(
    process_id: uuid.UUID, step_key: str, session: SessionDep, caller: CurrentCaller
) -> Page[DocumentPublic]:
    documents = steps.documents(session, caller, process_id, step_key)
    return Page(data=documents, count=len(documents))


@router.get("/documents/{document_id}", response_class=FileResponse)
def download_document(
    process_id: uuid.UUID,
    document_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    caller: CurrentCaller,
) -> FileResponse:
    return download(steps.document_file(session, settings, caller, process_id, document_id))


# comments -----------------------------------------------------------------------------------


@router.post("/steps/{step_key}/comments", status_code=status.HTTP_201_CREATED)
def add_comment(
    process_id: uuid.UUID,
    step_key: str,
    body: CommentCreate,
    session: SessionDep,
    caller: CurrentCaller,
) -> CommentPublic:
    return steps.add_comment(session, caller, process_id, step_key, body.body)


@router.get("/steps/{step_key}/comments")
def list_comments(
    process_id: uuid.UUID, step_key: str, session: SessionDep, caller: CurrentCaller
) -> Page[CommentPublic]:
    comments = steps.comments(session, caller, process_id, step_key)
    return Page(data=comments, count=len(comments))
