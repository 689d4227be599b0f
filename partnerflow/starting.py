"""Starting a process: the frozen template version, the partner bindings, the workflow.

Used by `POST /api/processes` (`start`), by automations and by the reconciler; refusals are
`Refused` (`invalid` naming the field, `conflict`), which an automation records as the reason
it started nothing. A process id names one workflow for good: starting it again finds it,
running or ended, and never starts a second run.

What the workflow is given besides the template is decided here, once, as ids: the partners
each "service area" offer goes to (their areas as they are at the start), and the staff
absences not yet over (later ones reach it through the `absence` update).
"""

import uuid
from contextlib import suppress
from typing import Any, assert_never

from pydantic import BaseModel, Field
from sqlmodel import Session
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from partnerflow import conditions, crash_points, service_areas
from partnerflow.absences import not_ended
from partnerflow.callers import Caller
from partnerflow.db import utcnow
from partnerflow.models import Opportunity, Process, ProcessTemplate, User
from partnerflow.partner_status import unbindable
from partnerflow.process_templates import partner_slots, published_version
from partnerflow.process_templates import snapshot as draft_snapshot
from partnerflow.processes import ProcessDetail, process_detail
from partnerflow.refusals import Refused, invalid
from partnerflow.settings import Settings
from partnerflow.spec import (
    AnyAssignee,
    ContactAssignee,
    OfferAssignee,
    PartnerAssignee,
    PartnerSlotAssignee,
    StepSpec,
    TemplateSnapshot,
    UserAssignee,
)
from partnerflow.template_mentions import DRAFT_VERSION
from workflows import search_attributes, summaries, versions
from workflows.messages import AwaitRecordedInput, ProcessInput
from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for

_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c7a52-4d0e-4c55-9a34-7d0f3c1b2e90")


class ProcessStart(BaseModel):
    template_id: uuid.UUID
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    opportunity_id: uuid.UUID
    contact_user_id: uuid.UUID | None = None
    partners: dict[str, uuid.UUID] = Field(default_factory=dict)
    test: bool = False


async def start(
    session: Session,
    temporal: Client,
    settings: Settings,
    caller: Caller,
    body: ProcessStart,
    idempotency_key: str | None,
) -> ProcessDetail:
    """Start a process by hand, and answer once it is recorded. The same idempotency key from
    the same caller names the same process: one workflow, however often the call is retried,
    and never a second run once the first has ended."""
    if idempotency_key:
        process_id = uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{caller.user.id}:{idempotency_key}")
        found = session.get(Process, process_id)
        if found is not None:  # started by a try that did not live to store its answer
            return process_detail(session, caller, found, settings)
    else:
        process_id = uuid.uuid4()
    opportunity = session.get(Opportunity, body.opportunity_id)
    if opportunity is None:
        raise invalid("opportunity_id", "no opportunity with this id")
    erased = erasure_refusal(opportunity)
    if erased is not None:
        raise invalid("opportunity_id", erased)
    test = body.test or opportunity.test
    template, snapshot = choose_snapshot(session, body.template_id, body.version, test)
    check_bindings(session, snapshot, body.partners)
    contact = session.get(User, body.contact_user_id or template.contact_user_id)
    if contact is None or contact.partner_id is not None or not contact.active:
        raise invalid("contact_user_id", "no active user of the company with this id")
    process = await launch(
        session, temporal, settings,
        process_id=process_id, snapshot=snapshot, opportunity_id=opportunity.id,
        contact_user_id=contact.id, partners=body.partners, test=test,
    )  # fmt: skip
    crash_points.reached("process.launched")
    if process is None:  # the workflow answers only after its first write
        raise Refused("unavailable", "the process is not recorded")
    return process_detail(session, caller, process, settings)


def erasure_refusal(opportunity: Opportunity) -> str | None:
    """Why nothing may start on (or change) the opportunity: its customer's data was erased,
    or an erasure is under way (it would miss a process started now)."""
    if opportunity.erased_at is not None:
        return "this opportunity's customer data was erased"
    if opportunity.erasing_since is not None:
        return "this opportunity's customer data is being erased"
    return None


def choose_snapshot(
    session: Session, template_id: uuid.UUID, version: int | None, test: bool
) -> tuple[ProcessTemplate, TemplateSnapshot]:
    """The version a process runs on: the named one, else the latest published; a test run
    of a template with a pending draft runs the draft."""
    template = session.get(ProcessTemplate, template_id)
    if template is None:
        raise invalid("template_id", "no process template with this id")
    if template.archived:
        raise Refused("conflict", "the process template is archived", "template_id")
    if version is None and test and template.draft_pending:
        return template, draft_snapshot(template, DRAFT_VERSION)
    version = version or template.published_version
    if version is None:
        raise Refused(
            "conflict",
            "the process template is not published (a test run may try it)",
            "template_id",
        )
    row = published_version(session, template.id, version)
    if row is None:
        raise invalid("version", f"the process template has no version {version}")
    return template, TemplateSnapshot.model_validate(row.snapshot)


def check_bindings(
    session: Session, snapshot: TemplateSnapshot, partners: dict[str, uuid.UUID]
) -> None:
    """Every partner the process would bind must be active: the slots' and those the
    template's version names itself (a step's assignee, an escalation's `reassign_to`), which
    may have been revoked since it was published. A refusal names the field at fault."""
    slots = partner_slots(snapshot.steps)
    for slot in sorted(slots - partners.keys()):
        raise invalid(["partners", slot], f"the template's slot '{slot}' needs a partner")
    for slot, partner_id in partners.items():
        if slot not in slots:
            raise invalid(["partners", slot], f"the template has no partner slot '{slot}'")
        problem = unbindable(session, partner_id)
        if problem:
            raise invalid(["partners", slot], problem)
    for index, step in enumerate(snapshot.steps):
        for path, assignee in _named(step):
            for field, named_partner in _partners_of(assignee):
                problem = unbindable(session, named_partner)
                if problem:
                    where = f"steps[{index}].{path}.{field}"
                    which = f"version {snapshot.version}" if snapshot.version else "draft"
                    raise invalid(
                        "template_id",
                        f"{where} (step '{step.key}') of the template's {which}: {problem}; "
                        "change the template and publish it again",
                    )


def _named(step: StepSpec) -> list[tuple[str, AnyAssignee]]:
    """Whom the step names to do it: its assignee, and its escalation's `reassign_to`."""
    named = [("assignee", step.assignee)]
    if step.escalation is not None and step.escalation.reassign_to is not None:
        named.append(("escalation.reassign_to", step.escalation.reassign_to))
    return named


def _partners_of(assignee: AnyAssignee) -> list[tuple[str, uuid.UUID]]:
    """The partners the assignee names itself, with the field naming each (a slot's is bound
    at the start, a pool's found then)."""
    match assignee:
        case PartnerAssignee(partner_id=partner_id):
            return [("partner_id", partner_id)]
        case OfferAssignee(partners=partners):
            return [(f"partners[{n}]", p) for n, p in enumerate(partners or [])]
        case PartnerSlotAssignee() | UserAssignee() | ContactAssignee():
            return []
        case _:
            assert_never(assignee)


def _bound_partners(
    snapshot: TemplateSnapshot,
    partners: dict[str, uuid.UUID],
    offer_pools: dict[str, list[uuid.UUID]],
) -> list[str]:
    # Every partner the process may hand a step to, an escalation's target and an offer's
    # partners too: revoking a partner finds its processes by this list.
    ids = set(partners.values())
    for step in snapshot.steps:
        ids |= {p for _, a in _named(step) for _, p in _partners_of(a)}
    for pool in offer_pools.values():
        ids |= set(pool)
    return sorted(str(i) for i in ids)


async def launch(
    session: Session,
    temporal: Client,
    settings: Settings,
    *,
    process_id: uuid.UUID,
    snapshot: TemplateSnapshot,
    opportunity_id: uuid.UUID,
    contact_user_id: uuid.UUID,
    partners: dict[str, uuid.UUID],
    test: bool,
    automation_id: uuid.UUID | None = None,
) -> Process | None:
    """Start the workflow, or find the one with this id (running or ended), and answer once
    it is recorded. `automation_id`: the automation that started it (shown in Temporal)."""
    found = session.get(Process, process_id)
    known, offer_pools, absences = {}, {}, []
    if found is None:
        known = facts_for(session, snapshot, opportunity_id, test)
        offer_pools = offer_pools_for(session, snapshot, opportunity_id)
        absences = not_ended(session, utcnow())
    session.rollback()  # release SQLite's read snapshot while the workflow writes
    if found is not None:
        return found  # started by a call that did not live to answer: found, not started again
    operation = WithStartWorkflowOperation(
        PartnerProcessWorkflow.run,
        ProcessInput(
            process_id=process_id,
            template=snapshot,
            opportunity_id=opportunity_id,
            contact_user_id=contact_user_id,
            partners=partners,
            test=test,
            facts=known,
            offer_pools=offer_pools,
            absences=absences,
            code_version=versions.CODE_VERSION,
        ),
        id=workflow_id_for(process_id),
        task_queue=settings.task_queue,
        # The same process id is the same process: a retried start finds the running one,
        # and one that has ended is never started again.
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=search_attributes.at_start(
            template_id=str(snapshot.template_id),
            opportunity_id=str(opportunity_id),
            partner_ids=_bound_partners(snapshot, partners, offer_pools),
            test=test,
        ),
        # What the Temporal UI shows an operator first: which process, ids and a link back.
        static_summary=summaries.process_summary(
            snapshot.name, snapshot.version, opportunity_id, test
        ),
        static_details=summaries.process_details(
            process_id=process_id,
            template_id=snapshot.template_id,
            template_name=snapshot.name,
            version=snapshot.version,
            opportunity_id=opportunity_id,
            public_url=settings.public_url,
            automation_id=automation_id,
        ),
    )
    # WorkflowAlreadyStartedError: it ran and ended between our look and the start; its read
    # model holds it.
    with suppress(WorkflowAlreadyStartedError):
        await temporal.execute_update_with_start_workflow(
            PartnerProcessWorkflow.await_recorded,
            AwaitRecordedInput(version=1),
            start_workflow_operation=operation,
        )
    return session.get(Process, process_id)


def facts_for(
    session: Session, snapshot: TemplateSnapshot, opportunity_id: uuid.UUID, test: bool
) -> dict[str, Any]:
    """The opportunity's values the version's conditions name, and nothing else of it: all
    a process carries of its opportunity into Temporal. `opportunity.test` is the process's
    own flag: a test run on a real opportunity takes the test branch too."""
    paths = conditions.opportunity_paths([step.when for step in snapshot.steps])
    opportunity = session.get(Opportunity, opportunity_id) if paths else None
    if opportunity is None:
        return {}
    return conditions.facts(
        paths, opportunity.product, test, opportunity.customer, opportunity.attributes
    )


def offer_pools_for(
    session: Session, snapshot: TemplateSnapshot, opportunity_id: uuid.UUID
) -> dict[str, list[uuid.UUID]]:
    """For each step offered to "the partners serving the customer's area": the active
    partners whose service area covers the opportunity's postal code, best fit first
    (partnerflow/service_areas.py `ranked`); an empty list when none does."""
    pooled = [
        step.key
        for step in snapshot.steps
        if isinstance(step.assignee, OfferAssignee) and step.assignee.pool == "service_area"
    ]
    if not pooled:
        return {}
    opportunity = session.get(Opportunity, opportunity_id)
    address = (opportunity.customer if opportunity else {}).get("address") or {}
    ranked = service_areas.ranked(session, address.get("postal_code"), address.get("country"))
    return {key: list(ranked) for key in pooled}


async def was_started(session: Session, temporal: Client, process_id: uuid.UUID) -> bool:
    """Is there a process with this id, in the read model or in Temporal (not yet recorded)?"""
    if session.get(Process, process_id) is not None:
        return True
    session.rollback()
    try:
        await temporal.get_workflow_handle(workflow_id_for(process_id)).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True
