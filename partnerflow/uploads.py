"""An upload crossing into its workflow: stored as `pending`, attached once the workflow took it.

`upload` stores the file and a `pending` row first; then the workflow's `add_document` update,
whose id is derived from the document, so that sending it again finds the first one. Taken →
`attached`; refused → the row and the file are removed. When the answer is unknown (a timeout,
the client gone, a crash) nothing is removed: the row stays `pending` until `settle` asks the
workflow, which alone knows whether it counts the document.
"""

import uuid
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, update
from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from partnerflow import crash_points
from partnerflow.callers import Caller, caller_for
from partnerflow.models import Document, User
from partnerflow.processes import DocumentPublic, run_update
from partnerflow.refusals import Refused, forbidden
from partnerflow.settings import Settings
from partnerflow.steps import visible_step
from partnerflow.storage import DocumentStorage, sanitize_filename
from workflows.messages import Actor, AddDocumentInput, DocumentRef, ProcessState
from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for

Settled = Literal["attached", "removed"]

DOCUMENT_TYPE_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"

# A workflow that does not answer within this (no worker polling) is asked again next round.
ANSWER_WITHIN = timedelta(seconds=15)


def update_id(document_id: uuid.UUID) -> str:
    """The `add_document` update's id: the same document is the same update."""
    return f"add_document:{document_id}"


def add_document_input(document: Document, actor: Actor) -> AddDocumentInput:
    return AddDocumentInput(
        step_key=document.step_key,
        actor=actor,
        document=DocumentRef(id=document.id, type=document.type, filename=document.filename),
    )


def attach(session: Session, document_id: uuid.UUID) -> None:
    session.rollback()
    session.execute(
        update(Document)
        .where(col(Document.id) == document_id, col(Document.status) == "pending")
        .values(status="attached")
    )
    session.commit()


def remove(session: Session, storage: DocumentStorage, document: Document) -> None:
    """The row and the file of an upload the workflow did not take (never an attached one)."""
    document_id, storage_key = document.id, document.storage_key
    session.rollback()
    removed = session.execute(
        delete(Document).where(col(Document.id) == document_id, col(Document.status) == "pending")
    )
    session.commit()
    if removed.rowcount:  # type: ignore[attr-defined]
        storage.delete(storage_key)


async def upload(
    session: Session,
    temporal: Client,
    settings: Settings,
    caller: Caller,
    process_id: uuid.UUID,
    step_key: str,
    *,
    data: bytes,
    filename: str | None,
    document_type: str,
) -> DocumentPublic:
    """Store a document for the step and have the workflow take it (`data`: the file's bytes,
    read up to one byte past `max_upload_bytes`). A file of a type not accepted raises
    `UnsupportedFile` (partnerflow/storage.py), before anything is stored."""
    visible_step(session, caller, process_id, step_key)
    if not caller.may("documents:upload"):
        raise forbidden("your organisation may not upload documents (documents:upload)")
    if len(data) > settings.max_upload_bytes:
        raise Refused("too_large", f"file: larger than {settings.max_upload_bytes} bytes")
    storage = DocumentStorage(settings.storage_dir)
    stored = storage.save(data)
    document = Document(
        process_id=process_id,
        step_key=step_key,
        type=document_type,
        filename=sanitize_filename(filename or "document"),
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
    payload = add_document_input(document, caller.actor())
    session.rollback()  # release SQLite's read snapshot while the workflow writes
    try:
        await run_update(
            temporal, process_id,
            lambda handle: handle.execute_update(
                PartnerProcessWorkflow.add_document, payload, id=update_id(public.id)
            ),
        )  # fmt: skip
    except Refused as refused:
        # Refused by the workflow: it did not take the file, nor ever will. (The answer is
        # the document, not the process: nothing read after the workflow took it can fail
        # and remove a file the process now holds.)
        if refused.kind != "unavailable":
            remove(session, storage, document)
        raise
    # Any other failure (a timeout, the client gone) leaves the outcome unknown: the upload
    # stays pending, and the reconciler attaches or removes it as the workflow says.
    crash_points.reached("upload.accepted")
    attach(session, public.id)
    return public


def pending(session: Session, uploaded_before: datetime) -> list[Document]:
    return list(
        session.exec(
            select(Document)
            .where(Document.status == "pending", col(Document.created_at) < uploaded_before)
            .order_by(col(Document.created_at))
        )
    )


def _holds(state: ProcessState, document: Document) -> bool:
    return any(
        doc.id == document.id
        for step in state.steps
        if step.key == document.step_key
        for doc in step.documents
    )


def _uploader(session: Session, user_id: uuid.UUID) -> Actor | None:
    """The uploader as the API authenticated them, if they still may act at all."""
    user = session.get(User, user_id)
    caller = caller_for(session, user) if user is not None and user.active else None
    return caller.actor() if caller is not None else None


async def settle(
    session: Session, temporal: Client, storage: DocumentStorage, document: Document
) -> Settled:
    """Attach or remove a `pending` upload, as its workflow says. The workflow holds it →
    attached. It does not, and cannot take it any more (ended, the step closed) → removed.
    Otherwise the update is sent again under its own id: that finds the first one if it is
    still on its way, so the workflow's answer to it is final either way. Temporal not
    answering raises, and the upload stays pending for the next round."""
    handle = temporal.get_workflow_handle_for(
        PartnerProcessWorkflow.run, workflow_id_for(document.process_id)
    )
    try:
        state = await handle.query(PartnerProcessWorkflow.state, rpc_timeout=ANSWER_WITHIN)
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        remove(session, storage, document)  # no such workflow: nothing can count it
        return "removed"
    if _holds(state, document):
        attach(session, document.id)
        return "attached"
    step = next((s for s in state.steps if s.key == document.step_key), None)
    actor = _uploader(session, document.uploaded_by)
    session.rollback()
    if state.status != "running" or step is None or step.status != "active" or actor is None:
        remove(session, storage, document)
        return "removed"
    try:
        await handle.execute_update(
            PartnerProcessWorkflow.add_document,
            add_document_input(document, actor),
            id=update_id(document.id),
            rpc_timeout=ANSWER_WITHIN,
        )
    except WorkflowUpdateFailedError:
        # Refused now; the first update may still have been taken before (then a closed step
        # refuses the repeat): the workflow's state says which.
        state = await handle.query(PartnerProcessWorkflow.state, rpc_timeout=ANSWER_WITHIN)
        if not _holds(state, document):
            remove(session, storage, document)
            return "removed"
    attach(session, document.id)
    return "attached"
