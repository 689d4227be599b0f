"""Processes: start one (a Temporal workflow), list and read them from the read model, cancel."""

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.csv_download import csv_response
from api.deps import (
    CurrentCaller,
    PageDep,
    Pagination,
    SessionDep,
    SettingsDep,
    StaffCaller,
    TemporalDep,
)
from api.idempotent import IdempotencyKey, once
from api.listing import Page, fetch_page
from partnerflow import exports, processes, starting
from partnerflow.processes import ProcessDetail, ProcessSort, ProcessSummary
from partnerflow.starting import ProcessStart

router = APIRouter(prefix="/api/processes", tags=["processes"])


class ProcessCancel(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ProcessDetail)
async def start_process(
    body: ProcessStart,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: StaffCaller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await once(
        session, caller, idempotency_key, "POST /api/processes", 201,
        lambda: starting.start(session, temporal, settings, caller, body, idempotency_key),
    )  # fmt: skip


def _listed(
    caller: CurrentCaller,
    status_filter: Annotated[
        Literal["running", "completed", "cancelled"] | None, Query(alias="status")
    ] = None,
    template_id: uuid.UUID | None = None,
    opportunity_id: uuid.UUID | None = None,
    partner_id: uuid.UUID | None = None,
    overdue: bool | None = None,
    attention: bool | None = None,
    test: bool = False,
    sort: ProcessSort = "-started_at",
) -> Any:
    """The list's query from its filters: the JSON list and the CSV export take the same."""
    return processes.listed(
        caller, status=status_filter, template_id=template_id, opportunity_id=opportunity_id,
        partner_id=partner_id, overdue=overdue, attention=attention, test=test, sort=sort,
    )  # fmt: skip


Listed = Annotated[Any, Depends(_listed)]


@router.get("")
def list_processes(
    session: SessionDep, caller: CurrentCaller, page: PageDep, statement: Listed
) -> Page[ProcessSummary]:
    """Test runs are left out unless `test=true` asks for them (and only them). `sort=risk`
    (staff only): the process with the open step most likely to finish late first
    (docs/forecast.md), those without a forecast last."""
    rows, count = fetch_page(session, statement, page)
    return Page(data=processes.summaries(session, caller, rows), count=count)


CSV_LIMIT = 10_000


@router.get(
    ".csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "the processes as CSV"}},
)
def export_processes(
    session: SessionDep,
    caller: CurrentCaller,
    statement: Listed,
    limit: Annotated[int, Query(ge=1, le=CSV_LIMIT)] = CSV_LIMIT,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> Response:
    """The process list as CSV: the same filters, sort and visibility as `GET
    /api/processes`, up to 10,000 rows a call (`limit`, `offset`); `X-Total-Count` says how
    many match in all. A cell a spreadsheet would run as a formula starts with `'`."""
    rows, count = fetch_page(session, statement, Pagination(limit=limit, offset=offset))
    text = exports.processes_csv(processes.summaries(session, caller, rows))
    return csv_response(text, "processes.csv", {"X-Total-Count": str(count)})


@router.get("/{process_id}")
def get_process(
    process_id: uuid.UUID, session: SessionDep, caller: CurrentCaller, settings: SettingsDep
) -> ProcessDetail:
    process = processes.visible_process(session, caller, process_id)
    return processes.process_detail(session, caller, process, settings)


@router.post("/{process_id}/cancel")
async def cancel_process(
    process_id: uuid.UUID,
    body: ProcessCancel,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: StaffCaller,
) -> ProcessDetail:
    return await processes.cancel(session, temporal, settings, caller, process_id, body.reason)
