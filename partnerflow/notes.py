"""Reasons people write about a process (why it was cancelled, why a step was skipped): kept in
the database, never in Temporal. The API stores the note, then sends the workflow its id; a
refused update takes its note with it. The read model resolves a note's id into its text.
"""

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from partnerflow.models import NoteKind, Process, ProcessNote


def write(
    session: Session,
    *,
    process_id: uuid.UUID,
    step_key: str | None,
    kind: NoteKind,
    author_id: uuid.UUID,
    body: str,
    partner_id: uuid.UUID | None = None,
    note_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Stored and committed before the workflow hears of it, so its id never dangles.

    `partner_id`: the partner whose record the note counts on (a decline, a request for
    changes). `note_id`: an id that follows from an Idempotency-Key; a retry whose first try
    stored the note finds it instead of storing a second that no update would name."""
    if note_id is not None and session.get(ProcessNote, note_id) is not None:
        return note_id
    note = ProcessNote(
        process_id=process_id, step_key=step_key, kind=kind, author_id=author_id, body=body,
        partner_id=partner_id,
    )  # fmt: skip
    if note_id is not None:
        note.id = note_id
    session.add(note)
    session.commit()
    return note.id


def discard(session: Session, note_id: uuid.UUID) -> None:
    """The note of an update the workflow refused: it never took it, nor ever will."""
    session.rollback()
    session.execute(delete(ProcessNote).where(col(ProcessNote.id) == note_id))
    session.commit()


def texts(session: Session, note_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    wanted = set(note_ids)
    if not wanted:
        return {}
    rows = session.exec(
        select(ProcessNote.id, ProcessNote.body).where(col(ProcessNote.id).in_(wanted))
    )
    return {note_id: body for note_id, body in rows}


def note_ids(timeline: Iterable[dict[str, Any]]) -> set[uuid.UUID]:
    """The notes a read-model timeline names."""
    return {uuid.UUID(str(entry["note_id"])) for entry in timeline if entry.get("note_id")}


def cancel_reason(process: Process, known: dict[uuid.UUID, str]) -> str | None:
    """Why the process was cancelled: the note its `process_cancelled` entry names, or what a
    process cancelled before notes recorded itself."""
    for entry in reversed(process.timeline):
        if entry.get("event") == "process_cancelled" and entry.get("note_id"):
            return known.get(uuid.UUID(str(entry["note_id"])), process.cancel_reason)
    return process.cancel_reason


def cancel_reasons(session: Session, processes: list[Process]) -> dict[uuid.UUID, str | None]:
    """Each cancelled process's reason, in one query."""
    cancelled = [p for p in processes if p.status == "cancelled"]
    known = texts(session, (i for p in cancelled for i in note_ids(p.timeline)))
    return {p.id: cancel_reason(p, known) for p in cancelled}
