"""PartnerProcessWorkflow: one running partner process, from the first step to the last.

Messages it accepts:
- update `await_recorded`: answers once the read model holds the given version; the API
  starts a process with it (update-with-start) so that the caller reads its own writes.
- update `complete_step`: the assignee, or the contact person or an admin acting for them,
  finishes an open step with the fields it records; refused (before it touches history)
  when the step is not open, the actor may not act, or a field is missing or malformed.
- query `state`: where the process stands.

Every transition bumps `version` and is written to the read model by an activity;
an update answers only after that write. E-mails go out from the main loop.
"""

from datetime import timedelta
from uuid import UUID

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.emails import EmailActivities
    from activities.read_model import ReadModelActivities
    from workflows.fields import field_problems
    from workflows.messages import (
        Actor,
        AwaitRecordedInput,
        CompletedBy,
        CompleteStepInput,
        ProcessInput,
        ProcessState,
        ResolvedAssignee,
        StepEmailRequest,
        StepSpec,
        StepState,
        TimelineEntry,
    )
    from workflows.search_attributes import PF_ACTIVE_STEPS, PF_STATUS

# Error types the API turns into HTTP statuses.
NOT_FOUND = "NotFound"
FORBIDDEN = "Forbidden"
CONFLICT = "Conflict"
INVALID = "Invalid"

DB_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10))
EMAIL_RETRY = RetryPolicy(
    maximum_interval=timedelta(minutes=5), non_retryable_error_types=["PermanentDeliveryError"]
)


def workflow_id_for(process_id: object) -> str:
    return f"process-{process_id}"


def _refuse(error_type: str, message: str) -> ApplicationError:
    return ApplicationError(message, type=error_type, non_retryable=True)


@workflow.defn
class PartnerProcessWorkflow:
    @workflow.init
    def __init__(self, input: ProcessInput) -> None:
        self._input = input
        self._specs = {spec.key: spec for spec in input.template.steps}
        self._recorded_version = 0
        self._outgoing: list[StepEmailRequest] = []
        steps = []
        for index, spec in enumerate(input.template.steps):
            requires = spec.requires
            if requires is None:
                requires = [input.template.steps[index - 1].key] if index else []
            steps.append(
                StepState(
                    key=spec.key, name=spec.name, assignee=self._resolve(spec), requires=requires
                )
            )
        self._state = ProcessState(
            process_id=input.process_id,
            template_id=input.template.template_id,
            template_version=input.template.version,
            opportunity_id=input.opportunity_id,
            contact_user_id=input.contact_user_id,
            partner_ids=sorted(set(input.partners.values()), key=str),
            test=input.test,
            started_at=workflow.now(),
            steps=steps,
        )
        # Open the first steps here, not in run(): an update that arrives with the start is
        # handled before run() begins, and must find them open.
        self._note("process_started")
        self._open_ready_steps()

    @workflow.run
    async def run(self, input: ProcessInput) -> ProcessState:
        await self._record()
        while True:
            await workflow.wait_condition(
                lambda: bool(self._outgoing) or self._state.status != "running"
            )
            while self._outgoing:
                await self._send(self._outgoing.pop(0))
            if self._state.status != "running":
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._outgoing:
                    return self._state

    @workflow.query
    def state(self) -> ProcessState:
        return self._state

    @workflow.update
    async def await_recorded(self, input: AwaitRecordedInput) -> ProcessState:
        await workflow.wait_condition(lambda: self._recorded_version >= input.version)
        return self._state

    @workflow.update
    async def complete_step(self, input: CompleteStepInput) -> ProcessState:
        step = self._step(input.step_key)
        on_behalf = self._authorize(step, input.actor, "steps:complete")
        now = workflow.now()
        step.status = "completed"
        step.completed_at = now
        step.completed_by = CompletedBy(
            user_id=input.actor.user_id,
            name=input.actor.name,
            partner_id=input.actor.partner_id,
            on_behalf=on_behalf,
        )
        step.fields = dict(input.fields)
        self._note("step_completed", step.key, input.actor)
        self._open_ready_steps()
        if all(s.status in ("completed", "skipped") for s in self._state.steps):
            self._state.status = "completed"
            self._state.completed_at = now
            self._note("process_completed")
        await self._record()
        return self._state

    @complete_step.validator
    def _validate_complete_step(self, input: CompleteStepInput) -> None:
        step = self._open_step(input.step_key)
        self._authorize(step, input.actor, "steps:complete")
        problems = field_problems(step.key, self._specs[step.key].fields, input.fields)
        if problems:
            raise _refuse(INVALID, "; ".join(problems))

    def _resolve(self, spec: StepSpec) -> ResolvedAssignee:
        assignee = spec.assignee
        if assignee.type == "partner":
            return ResolvedAssignee(type="partner", partner_id=assignee.partner_id)
        if assignee.type == "partner_slot":
            return ResolvedAssignee(
                type="partner_slot",
                slot=assignee.slot,
                partner_id=self._input.partners.get(assignee.slot),
            )
        if assignee.type == "user":
            return ResolvedAssignee(type="user", user_id=assignee.user_id)
        return ResolvedAssignee(type="contact", user_id=self._input.contact_user_id)

    def _step(self, key: str) -> StepState:
        for step in self._state.steps:
            if step.key == key:
                return step
        raise _refuse(NOT_FOUND, f"step '{key}': the process has no such step")

    def _open_step(self, key: str) -> StepState:
        step = self._step(key)
        if self._state.status != "running":
            raise _refuse(CONFLICT, f"the process is {self._state.status}")
        if step.status != "active":
            raise _refuse(CONFLICT, f"step '{key}' is {step.status}, not open")
        return step

    def _authorize(self, step: StepState, actor: Actor, permission: str) -> bool:
        """May `actor` act on `step`? Answers whether they act for the assignee."""
        assignee = step.assignee
        if assignee.partner_id is not None and actor.partner_id == assignee.partner_id:
            if permission not in actor.permissions:
                raise _refuse(FORBIDDEN, f"step '{step.key}': your organisation lacks {permission}")
            return False
        if assignee.user_id is not None and actor.user_id == assignee.user_id:
            return False
        if actor.role == "admin" or actor.user_id == self._state.contact_user_id:
            return True
        raise _refuse(FORBIDDEN, f"step '{step.key}' is not assigned to you")

    def _open_ready_steps(self) -> None:
        done = {s.key for s in self._state.steps if s.status in ("completed", "skipped")}
        for step in self._state.steps:
            if step.status != "pending" or not set(step.requires) <= done:
                continue
            step.status = "active"
            step.activated_at = workflow.now()
            self._note("step_activated", step.key)
            if step.assignee.partner_id is not None:
                self._outgoing.append(self._handover_email(step, step.assignee.partner_id))

    def _handover_email(self, step: StepState, partner_id: UUID) -> StepEmailRequest:
        spec = self._specs[step.key]
        template = self._input.template
        return StepEmailRequest(
            process_id=self._state.process_id,
            opportunity_id=self._state.opportunity_id,
            contact_user_id=self._state.contact_user_id,
            partner_id=partner_id,
            kind="handover",
            language=template.language,
            timezone=template.timezone,
            step_key=step.key,
            step_name=step.name,
            instructions=spec.instructions,
            email_template_id=spec.on_activate_email,
            fields={s.key: s.fields for s in self._state.steps if s.fields},
            test=self._state.test,
            idempotency_key=f"{self._state.process_id}:{step.key}:handover",
        )

    def _note(self, event: str, step_key: str | None = None, actor: Actor | None = None) -> None:
        self._state.timeline.append(
            TimelineEntry(
                at=workflow.now(),
                event=event,
                step_key=step_key,
                user_id=actor.user_id if actor else None,
            )
        )

    async def _record(self) -> None:
        self._state.version += 1
        snapshot = self._state.model_copy(deep=True)
        workflow.upsert_search_attributes(
            [
                PF_STATUS.value_set(snapshot.status),
                PF_ACTIVE_STEPS.value_set([s.key for s in snapshot.steps if s.status == "active"]),
            ]
        )
        await workflow.execute_activity_method(
            ReadModelActivities.record_process_state,
            snapshot,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=DB_RETRY,
        )
        self._recorded_version = max(self._recorded_version, snapshot.version)

    async def _send(self, request: StepEmailRequest) -> None:
        try:
            await workflow.execute_activity_method(
                EmailActivities.send_step_email,
                request,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=EMAIL_RETRY,
            )
        except ActivityError as error:
            # An e-mail that cannot go out must not stop the process; the failure is recorded.
            workflow.logger.warning(
                "%s e-mail for step %s failed: %s", request.kind, request.step_key, error.cause
            )
            self._note(f"{request.kind}_email_failed", request.step_key)
            await self._record()
