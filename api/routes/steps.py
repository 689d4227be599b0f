"""A process's steps: complete, skip, move the deadline, reassign, documents and comments."""

import uuid
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
from partnerflow.steps import CommentPublic
from partnerflow.storage import UnsupportedFile

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
    request = f"POST /api/processes/{process_id}/steps/{step_key}/complete"
    update_id = (
        f"complete:{step_key}:{caller.user.id}:{idempotency_key}" if idempotency_key else None
    )

    async def complete() -> ProcessDetail:
        step = steps.step_of(session, caller, process_id, step_key)
        return await steps.complete(
            session, temporal, settings, caller, step, body.fields, update_id
        )

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
