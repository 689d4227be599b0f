"""Starting a process: the frozen template version, the partner bindings, the workflow.

Used by `POST /api/processes`, by automations and by the reconciler; refusals are
`StartRefused`, which the route answers as 409/422 and an automation records as the reason it
started nothing. A process id names one workflow for good: starting it again finds it,
running or ended, and never starts a second run.
"""

import uuid
from contextlib import suppress
from dataclasses import dataclass

from sqlmodel import Session
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from partnerflow.models import Opportunity, Process, ProcessTemplate
from partnerflow.partner_status import unbindable
from partnerflow.process_templates import partner_slots, published_version
from partnerflow.process_templates import snapshot as draft_snapshot
from partnerflow.settings import Settings
from workflows import search_attributes, summaries
from workflows.messages import AwaitRecordedInput, ProcessInput, TemplateSnapshot
from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for

# A test run of an unpublished draft carries version 0.
DRAFT_VERSION = 0


@dataclass
class StartRefused(Exception):
    status: int  # 409 or 422
    loc: list[str | int]
    message: str


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
        raise StartRefused(422, ["template_id"], "no process template with this id")
    if template.archived:
        raise StartRefused(409, ["template_id"], "the process template is archived")
    if version is None and test and template.draft_pending:
        return template, draft_snapshot(template, DRAFT_VERSION)
    version = version or template.published_version
    if version is None:
        raise StartRefused(
            409, ["template_id"], "the process template is not published (a test run may try it)"
        )
    row = published_version(session, template.id, version)
    if row is None:
        raise StartRefused(422, ["version"], f"the process template has no version {version}")
    return template, TemplateSnapshot.model_validate(row.snapshot)


def check_bindings(
    session: Session, snapshot: TemplateSnapshot, partners: dict[str, uuid.UUID]
) -> None:
    """Every partner the process would bind must be active: the slots' and those the
    template's version names itself (a step's assignee, an escalation's `reassign_to`), which
    may have been revoked since it was published. A refusal names the field at fault."""
    slots = partner_slots(snapshot.steps)
    for slot in sorted(slots - partners.keys()):
        raise StartRefused(422, ["partners", slot], f"the template's slot '{slot}' needs a partner")
    for slot, partner_id in partners.items():
        if slot not in slots:
            raise StartRefused(
                422, ["partners", slot], f"the template has no partner slot '{slot}'"
            )
        problem = unbindable(session, partner_id)
        if problem:
            raise StartRefused(422, ["partners", slot], problem)
    for index, step in enumerate(snapshot.steps):
        named = [("assignee", step.assignee)]
        if step.escalation is not None and step.escalation.reassign_to is not None:
            named.append(("escalation.reassign_to", step.escalation.reassign_to))
        for path, assignee in named:
            if assignee.type != "partner":
                continue
            problem = unbindable(session, assignee.partner_id)
            if problem:
                field = f"steps[{index}].{path}.partner_id"
                which = f"version {snapshot.version}" if snapshot.version else "draft"
                raise StartRefused(
                    422,
                    ["template_id"],
                    f"{field} (step '{step.key}') of the template's {which}: {problem}; "
                    "change the template and publish it again",
                )


def _bound_partners(snapshot: TemplateSnapshot, partners: dict[str, uuid.UUID]) -> list[str]:
    # Every partner the process may hand a step to, an escalation's target too: revoking a
    # partner finds its processes by this list.
    ids = set(partners.values())
    for step in snapshot.steps:
        named = [step.assignee]
        if step.escalation is not None and step.escalation.reassign_to is not None:
            named.append(step.escalation.reassign_to)
        ids |= {a.partner_id for a in named if a.type == "partner"}
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
            partner_ids=_bound_partners(snapshot, partners),
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
