"""PartnerProcessWorkflow: one running partner process, from the first step to the last.

Updates (each with a validator that refuses before anything touches history; a refusal is
an ApplicationError whose type is a refusal kind, workflows/rules.py):
- `complete_step`: the assignee, or the contact person or an admin acting for them,
  finishes an open step with the fields it records; required documents must be there. A step
  with a review (`StepSpec.review`) goes `in_review` instead: the reviewer (the contact person
  or a named user) is told, and the step counts as done only once approved.
- `review_step`: the reviewer (an admin may act for them) answers a step `in_review`: `approve`
  completes it; `request_changes`, with a reason (a `ProcessNote`'s id), hands it back to its
  assignee, who is e-mailed, at most `max_rounds` times; a new deadline may come with it.
- `decline_step`: a user of the partner a step is assigned to hands the active step back, with
  a reason (a `ProcessNote`'s id): it goes to the contact person, who is told (notice, e-mail).
- `accept_offer`: a user of a partner a step is offered to (workflows/offers.py) takes it: the
  first to accept wins (the handler checks again: updates validated together run one by one),
  the other partners asked are told it was withdrawn, and the step opens for the winner (its
  deadline from now, the hand-over). A later accept is refused (`conflict`).
- `decline_offer`: such a partner says no, with a reason (a `ProcessNote`'s id): a ranked
  offer goes to the next partner; with nobody left to ask, the contact person has the step.
- `absence`: a staff user's absence was set, changed or withdrawn (ids and moments only):
  while it runs, their open steps and the reviews waiting for them go to the substitute (both
  told), and steps opening for them (or handed to them: reassigned, escalated, declined or
  revoked to the contact person) go to the substitute; sent again, it moves nothing twice.
- `skip_step`: the contact person or an admin skips a pending or open step (the reason's
  text is a `ProcessNote` the API stored: the workflow carries its id, never the text).
- `set_deadline`: the assignee partner (with `steps:set_deadline`), the contact or an admin
  moves a step's deadline; the old timers are cancelled, so no reminder for the old date fires.
  The partner is e-mailed the date with the step's calendar event: `deadline_changed` when
  staff moved it, `appointment` when the partner set or moved it itself (workflows/versions.py).
  An offered step has no deadline yet (`conflict`).
- `reassign`: the contact or an admin hands a step to another partner or user (an offered
  step is taken out of its offer, the partners asked are told, and it opens for the assignee).
- `add_document`: records a file the API stored for an open step (`documents:upload`).
- `cancel`: the contact or an admin ends the process with a reason (a `ProcessNote`'s id).
- `partner_revoked`: the partner was revoked (the API, or the reconciler for a process it
  could not reach then): its open steps, and any later bound to it, go to the contact person,
  who is told (notice and e-mail); its pending offers are withdrawn (a ranked offer moves on)
  and it is offered nothing more; the partner is sent nothing, not even that.
- `await_recorded`: answers once the write of a version is settled: the read model holds it,
  or the write failed for good (the process is then flagged `attention`, and the state says
  why); the API starts a process with it (update-with-start) so the caller reads its own
  writes. A version the process has not reached is refused (it could wait forever, and hold
  up the end of the process).
Query `state`: where the process stands.

A step with a condition (`StepSpec.when`, partnerflow/conditions.py) is decided when its
requirements are done, from the opportunity values the process started with (`facts`) and what
earlier steps recorded: when it does not hold, the step is `not_applicable` (done; nothing is
sent, no timer is armed), which may decide the steps after it in turn.

Each open step with a deadline has a watcher (workflows/deadline_watchers.py): durable timers
for its reminders, its deadline (overdue: the contact person is told) and the escalation's
reassignment, each calling back `_on_alarm`. Each offered step has one too
(workflows/offers.py): a ranked turn's end and the offer's expiry (then the contact person has
the step), calling back `_on_offer_moment`; both are armed again from the state after a
continue-as-new. Every
transition bumps `version` and is written to the read model by a local activity, together
with the in-app notices queued since the last write, in one transaction; an update answers
only after that write. A write that fails for good is tried again, with the whole state (and
the notices still unwritten), on a durable timer. E-mails go out in a lane of their own, in
order; one that keeps failing retries on its own (workflows/retries.py has the caps and the timer's
policy) and holds up neither the read model nor the items behind it. What fails for good
flags the process `attention` (state, read model, search attribute `PfAttention`) and the
process goes on.
Business-day deadlines come from a local activity: the holiday tables are data that changes
with a package release, and a recorded deadline must replay as recorded.
Each timer and activity says in its summary what it is for, and the current details where the
process stands (workflows/summaries.py): operators read both in the Temporal UI and CLI.
The process finishes, or continues as new, only once no handler runs, nothing is left to send
and its last state is written (or writing it again gave up): with no yield between that check
and the end, no accepted update is lost. Runs recorded before these changes replay on the old
path (workflows/versions.py).
Conditions, review and decline needed no patch: each new command follows only from what a run
recorded before cannot hold (a step spec's `when` or `review`, or the new updates, whose
validators refuse a run without them), and for those runs the code emits the same commands in
the same order (tests/workflows/test_replay.py replays the recorded ones).
Offers and absences needed none either: a run recorded before has no step whose assignee is an
offer (the only way to an offer's timers, e-mails and `offer_made` ids from `workflow.uuid4()`),
no absences in its input, and never got the `absence` update or an answer to an offer (their
validators refuse a run without them); a search attribute of offers (`PfOffered`) is upserted
only once a step has offers, and `PfActiveSteps` counts offered steps, which such runs lack.
`PfPartners` lists the partners an offer may go to besides those bound (a revocation finds
the process before the offer is made): a run without offers lists what it always did.
"""

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Literal, assert_never
from uuid import UUID

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, FailureError, RetryState

with workflow.unsafe.imports_passed_through():
    # `import workflows.x as x`, not `from workflows import x`: the sandbox loads this module's
    # package afresh for each run, and Python fetches a from-import's submodules past the
    # sandbox's importer, from disk, unshared (6 ms of the worker's CPU per run, every run:
    # bench/NOTES.md).
    import workflows.absences as absences
    import workflows.attention as attention
    import workflows.notices as notices
    import workflows.offers as offers
    import workflows.outgoing as outgoing
    import workflows.retries as retries
    import workflows.search_attributes as search_attributes
    import workflows.summaries as summaries
    import workflows.versions as versions
    from activities.deadlines import business_days_due
    from activities.emails import EmailActivities
    from activities.notifications import NotificationActivities
    from activities.read_model import ReadModelActivities
    from partnerflow.conditions import holds
    from partnerflow.spec import (
        DONE_STATUSES,
        OPEN_STATUSES,
        AfterDeadline,
        AnyAssignee,
        BusinessDaysDeadline,
        ContactAssignee,
        EmailKind,
        OfferAssignee,
        PartnerAssignee,
        PartnerSlotAssignee,
        Review,
        UserAssignee,
        moment_from_value,
        parse_duration,
        resolve_requires,
        shift,
    )
    from workflows.deadline_watchers import Alarm, DeadlineWatchers
    from workflows.deadlines import add_business_days
    from workflows.fields import document_problems, field_problems
    from workflows.messages import (
        Absence,
        AbsenceInput,
        Actor,
        AddDocumentInput,
        AnswerOfferInput,
        AttentionNote,
        AwaitRecordedInput,
        BusinessDaysInput,
        CancelInput,
        CompleteStepInput,
        DeclineStepInput,
        EmailRequest,
        NotificationKind,
        NotificationRequest,
        Offer,
        PartnerRevokedInput,
        ProcessInput,
        ProcessState,
        ReassignInput,
        ResolvedAssignee,
        ReviewStepInput,
        SetDeadlineInput,
        SkipStepInput,
        StepState,
        TimelineEntry,
        TransitionWrite,
    )
    from workflows.rules import (
        authorize,
        authorize_staff,
        check_decline,
        check_not_offered,
        check_review_answer,
        completed_by,
        find_step,
        new_due,
        open_step,
        refuse,
        require_running,
    )
    from workflows.search_attributes import PF_ATTENTION

Outgoing = EmailRequest | NotificationRequest


def workflow_id_for(process_id: object) -> str:
    return f"process-{process_id}"


def _as_activity_error(failure: FailureError, activity_type: str) -> ActivityError:
    """A local activity's own failure arrives unwrapped (only its timeouts come as an
    ActivityError): wrapped alike, it is judged and noted as a regular activity's would be."""
    if isinstance(failure, ActivityError):
        return failure
    permanent = isinstance(failure, ApplicationError) and failure.non_retryable
    error = ActivityError(
        "Local activity failed",
        scheduled_event_id=0,
        started_event_id=0,
        identity="",
        activity_type=activity_type,
        activity_id="",
        retry_state=(
            RetryState.NON_RETRYABLE_FAILURE if permanent else RetryState.MAXIMUM_ATTEMPTS_REACHED
        ),
    )
    error.__cause__ = failure
    return error


def _count(name: str, description: str) -> None:
    # Workflow metrics are not emitted while a history replays, so each counts once.
    workflow.metric_meter().create_counter(name, description).add(1)


@workflow.defn
class PartnerProcessWorkflow:
    @workflow.init
    def __init__(self, input: ProcessInput) -> None:
        # Decided once, as the run starts: a run recorded before keeps its path to the end. A
        # run that has it has every older change too, so it records no older patch.
        self._one_write = versions.taken(input.code_version, versions.TRANSITION_WRITE)
        self._input = input
        self._template = input.template
        self._specs = {spec.key: spec for spec in input.template.steps}
        self._tz = input.template.timezone
        self._watchers = DeadlineWatchers(self._specs, self._tz, self._on_alarm)
        self._offer_watchers = offers.OfferWatchers(self._tz, self._on_offer_moment)
        self._outgoing: list[Outgoing] = list(input.outgoing)
        # notices queued since the last write that landed: the next write carries them
        self._notices: list[NotificationRequest] = []
        self._dirty = False
        # the last write failed for good (since then): it is written again on a timer
        self._unwritten_since: datetime | None = None
        # items that failed their first attempt and retry on their own, up to their cap
        self._retrying: set[asyncio.Task[None]] = set()
        # steps opened whose business-day deadline is being computed (then handed over)
        self._awaiting_due: list[str] = []
        self._computing_due = 0
        if input.state is not None:  # continued as new: carry on where the last run stopped
            self._state = input.state
            self._recorded_version = input.state.version
            workflow.set_current_details(summaries.current_details(self._state, self._tz))
            return
        self._recorded_version = 0
        self._state = ProcessState(
            process_id=input.process_id,
            template_id=input.template.template_id,
            template_version=input.template.version,
            opportunity_id=input.opportunity_id,
            contact_user_id=input.contact_user_id,
            partner_ids=sorted(set(input.partners.values()), key=str),
            test=input.test,
            started_at=workflow.now(),
            steps=[
                StepState(
                    key=spec.key,
                    name=spec.name,
                    assignee=self._resolve(spec.assignee),
                    requires=spec.requires or [],
                )
                for spec in resolve_requires(input.template.steps)
            ],
            absences=list(input.absences),
        )
        for step in self._state.steps:
            self._include_partner(step.assignee.partner_id)
        # Open the first steps here, not in run(): an update that arrives with the start is
        # handled before run() begins, and must find them open.
        self._note("process_started")
        self._advance()

    @workflow.run
    async def run(self, input: ProcessInput) -> ProcessState:
        if not self._lanes():
            return await self._run_recorded_before_lanes(input)
        if input.state is None:
            _count("partnerflow_processes_started", "processes started")
            await self._record()
        else:
            self._watchers.sync(self._state.steps)
            self._offer_watchers.sync(self._state.steps)
        lane = asyncio.create_task(self._send_outgoing())
        while True:
            await workflow.wait_condition(
                lambda: (
                    self._dirty
                    or self._state.status != "running"
                    or self._unwritten_since is not None
                    or (workflow.info().is_continue_as_new_suggested() and self._lane_idle())
                )
            )
            if self._dirty:
                await self._record()
                continue
            if self._unwritten_since is not None and self._state.status == "running":
                await self._write_again_later()
                continue
            if self._state.status != "running":
                self._watchers.cancel()
                self._offer_watchers.cancel()
            # Before continuing as new the timers stay armed while the run settles (an e-mail
            # may still be retrying): a reminder due meanwhile still goes out.
            await self._settle()
            self._watchers.cancel()
            self._offer_watchers.cancel()
            if self._state.status == "running":
                # notices left unwritten (the write gave up) go out through the lane
                unsent = self._outgoing + self._notices
                workflow.continue_as_new(
                    self._input.model_copy(update={"state": self._state, "outgoing": unsent})
                )
            lane.cancel()
            return self._state

    async def _settle(self) -> None:
        """Until no handler runs, the lane is idle and the last state is written. The caller
        ends the run right after, with no await in between: nothing accepted is lost."""
        while True:
            await workflow.wait_condition(
                lambda: workflow.all_handlers_finished() and self._lane_idle()
            )
            if self._dirty:
                await self._record()
            elif self._unwritten_since is not None:
                await self._write_again_later()
            else:
                return

    def _lanes(self) -> bool:
        """False while replaying a run recorded before the lane (workflows/versions.py)."""
        return self._one_write or workflow.patched(versions.OUTGOING_LANE)

    def _rewrites(self) -> bool:
        """False while replaying a run recorded before a failed write was written again, and
        `partner_revoked` still waited for the contact's notice (workflows/versions.py)."""
        return self._one_write or workflow.patched(versions.READ_MODEL_REWRITTEN)

    async def _write_again_later(self) -> None:
        """The last write failed for good: after a durable wait (cut short by a transition,
        whose write carries the state anyway) mark the state to be written again; after a
        day of this, give up and let the process go on flagged (workflows/retries.py)."""
        assert self._unwritten_since is not None
        with contextlib.suppress(TimeoutError):  # the wait's end, not a failure
            await workflow.wait_condition(
                lambda: self._dirty,
                timeout=retries.READ_MODEL_REWRITE_EVERY,
                timeout_summary=summaries.rewrite_timer(self._state.version),
            )
        if self._dirty or self._unwritten_since is None:
            return
        if workflow.now() - self._unwritten_since >= retries.READ_MODEL_REWRITE_FOR:
            workflow.logger.warning(
                "process %s: read model still refuses its state, given up",
                self._state.process_id,
            )
            self._unwritten_since = None
            return
        self._dirty = True

    async def _run_recorded_before_lanes(self, input: ProcessInput) -> ProcessState:
        """The main loop as it was: sends head-first from the loop itself."""
        if input.state is None:
            _count("partnerflow_processes_started", "processes started")
            await self._record()
        else:
            self._watchers.sync(self._state.steps)
        while True:
            await workflow.wait_condition(
                lambda: (
                    bool(self._outgoing)
                    or self._dirty
                    or self._state.status != "running"
                    or workflow.info().is_continue_as_new_suggested()
                )
            )
            await self._flush()
            if self._state.status != "running":
                self._watchers.cancel()
                await workflow.wait_condition(workflow.all_handlers_finished)
                await self._flush()
                return self._state
            if workflow.info().is_continue_as_new_suggested():
                self._watchers.cancel()
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._dirty:
                    await self._record()
                workflow.continue_as_new(
                    self._input.model_copy(
                        update={"state": self._state, "outgoing": self._outgoing}
                    )
                )

    @workflow.query
    def state(self) -> ProcessState:
        return self._state

    @workflow.update
    async def await_recorded(self, input: AwaitRecordedInput) -> ProcessState:
        await workflow.wait_condition(lambda: self._recorded_version >= input.version)
        return self._state

    @await_recorded.validator
    def _validate_await_recorded(self, input: AwaitRecordedInput) -> None:
        if input.version < 1:
            raise refuse("invalid", "version: must be 1 or more")
        # A fresh run writes version 1 first thing; beyond what the state has reached, a wait
        # could last forever (a finished process makes no more versions) and would hold up
        # the end of the process, which waits for every handler.
        reached = max(self._state.version, 1)
        if input.version > reached:
            raise refuse(
                "conflict", f"version: the process is at version {reached}, not {input.version}"
            )

    # complete_step ------------------------------------------------------------------------

    @workflow.update
    async def complete_step(self, input: CompleteStepInput) -> ProcessState:
        step = open_step(self._state, input.step_key, ("active",))
        on_behalf = authorize(self._state, step, input.actor, "steps:complete")
        step.completed_by = completed_by(input.actor, on_behalf)
        step.fields = dict(input.fields)
        review = self._specs[step.key].review
        if review is not None:
            self._submit_for_review(step, review, input.actor)
        else:
            step.status = "completed"
            step.completed_at = workflow.now()
            self._note("step_completed", step.key, input.actor)
            self._tell_contact_completed(step)
            self._advance()
        await self._record()
        return self._state

    @complete_step.validator
    def _validate_complete_step(self, input: CompleteStepInput) -> None:
        step = open_step(self._state, input.step_key, ("active",))
        authorize(self._state, step, input.actor, "steps:complete")
        spec = self._specs[step.key]
        problems = field_problems(step.key, spec.fields, input.fields)
        problems += document_problems(step.key, spec.documents, step.documents)
        if problems:
            raise refuse("invalid", "; ".join(problems))

    def _tell_contact_completed(self, step: StepState) -> None:
        """A partner's step is done: the contact person is told, unless the spec says not."""
        notify = self._specs[step.key].notify_contact_on_complete
        if step.assignee.partner_id is not None and (notify is None or notify):
            self._to_contact(step, "completion", "step_completed", f"{step.key}:completion")

    def _submit_for_review(self, step: StepState, review: Review, actor: Actor) -> None:
        """The assignee finished a step with a review: it waits for the reviewer, who is told.
        The deadline runs on (workflows/deadline_watchers.py says what it still does)."""
        step.status = "in_review"
        step.submitted_at = workflow.now()
        step.reviewer_user_id = self._reviewer(review)
        self._note("step_submitted", step.key, actor)
        away = absences.running(self._state.absences, step.reviewer_user_id, workflow.now())
        if away is not None:
            step.reviewer_user_id = away.substitute_user_id
            self._substituted(step, away)
        if step.reviewer_user_id is not None:
            self._queue_notice(
                step,
                "review_requested",
                f"{step.key}:review:{step.review_rounds}",
                notices.review_requested(self._template.language, step.name),
                user_id=step.reviewer_user_id,
            )

    def _reviewer(self, review: Review) -> UUID | None:
        match review.by:
            case ContactAssignee():
                return self._state.contact_user_id
            case UserAssignee():
                return review.by.user_id
            case _:
                assert_never(review.by)

    # review_step --------------------------------------------------------------------------

    @workflow.update
    async def review_step(self, input: ReviewStepInput) -> ProcessState:
        step = self._check_review(input)
        match input.decision:
            case "approve":
                step.status = "completed"
                step.completed_at = workflow.now()
                # an approval may come with a remark (its note's id), as a request does
                self._note("step_approved", step.key, input.actor, note_id=input.note_id)
                self._tell_contact_completed(step)
                self._advance()
            case "request_changes":
                self._request_changes(step, input)
            case _:
                assert_never(input.decision)
        await self._record()
        return self._state

    @review_step.validator
    def _validate_review_step(self, input: ReviewStepInput) -> None:
        self._check_review(input)

    def _check_review(self, input: ReviewStepInput) -> StepState:
        step = open_step(self._state, input.step_key, ("in_review",), wanted="in review")
        review = self._specs[step.key].review
        check_review_answer(step, review, input.actor, input.decision, input.note_id)
        if input.due is not None:
            new_due(step, input.due, self._tz, workflow.now())
        return step

    def _request_changes(self, step: StepState, input: ReviewStepInput) -> None:
        """Back to the assignee, who is told why (the reason's id: the e-mail quotes it)."""
        step.status = "active"
        step.review_rounds += 1
        step.completed_by = None  # not finished: whoever finishes it next is recorded
        self._note("changes_requested", step.key, input.actor, note_id=input.note_id)
        if input.due is not None:
            # set by hand, as set_deadline does; the e-mail below names it
            due_at = new_due(step, input.due, self._tz, workflow.now())
            self._set_due(step, due_at, by_hand=True)
            self._note("deadline_set", step.key, input.actor, due_at.isoformat())
        # the partner organisation, or the user (the contact person) who holds the step
        partner_id, user_id = step.assignee.partner_id, step.assignee.user_id
        if partner_id is None and user_id is None:
            return  # a slot the process started without: nobody to tell
        key = f"{step.key}:changes_requested:{step.review_rounds}"
        self._queue_email(
            step, "changes_requested", key,
            partner_id=partner_id, user_id=user_id, note_id=input.note_id,
        )  # fmt: skip
        message = notices.changes_requested(self._template.language, step.name)
        self._queue_notice(
            step, "changes_requested", key, message, partner_id=partner_id, user_id=user_id
        )

    # decline_step -------------------------------------------------------------------------

    @workflow.update
    async def decline_step(self, input: DeclineStepInput) -> ProcessState:
        step = open_step(self._state, input.step_key, ("active",))
        check_decline(step, input.actor, input.note_id)
        partner_id = step.assignee.partner_id
        key = f"{step.key}:declined:{step.assignments}"
        contact = self._state.contact_user_id
        # As a revoked partner's steps do: to the contact person, who is told once (this
        # e-mail and notice, no hand-over); the partner, who handed it back, is sent nothing.
        step.assignee = ResolvedAssignee(type="contact", user_id=contact)
        self._note("step_declined", step.key, input.actor, note_id=input.note_id)
        self._substitute_if_away(step)
        self._queue_email(
            step, "step_declined", key,
            user_id=contact, about_partner_id=partner_id, note_id=input.note_id,
        )  # fmt: skip
        message = notices.declined(self._template.language, step.name)
        self._queue_notice(step, "step_declined", key, message, user_id=contact)
        await self._record()
        return self._state

    @decline_step.validator
    def _validate_decline_step(self, input: DeclineStepInput) -> None:
        step = open_step(self._state, input.step_key, ("active",))
        check_decline(step, input.actor, input.note_id)

    # accept_offer, decline_offer ----------------------------------------------------------

    @workflow.update
    async def accept_offer(self, input: AnswerOfferInput) -> ProcessState:
        # Checked again here: updates accepted together are validated before any handler
        # runs, so a second accept can pass its validator; the first handler to run wins.
        step, offer = self._check_answer(input, declining=False)
        offer.status = "accepted"
        offer.answered_at = workflow.now()
        self._note("offer_accepted", step.key, input.actor, detail=str(offer.partner_id))
        self._withdraw_offers(step)
        step.assignee = ResolvedAssignee(type="partner", partner_id=offer.partner_id)
        self._include_partner(offer.partner_id)
        self._activate(step)  # its deadline counts from now; the hand-over goes out
        await self._record()
        return self._state

    @accept_offer.validator
    def _validate_accept_offer(self, input: AnswerOfferInput) -> None:
        self._check_answer(input, declining=False)

    @workflow.update
    async def decline_offer(self, input: AnswerOfferInput) -> ProcessState:
        step, offer = self._check_answer(input, declining=True)
        offer.status = "declined"
        offer.answered_at = workflow.now()
        offer.note_id = input.note_id
        self._note("offer_declined", step.key, input.actor, note_id=input.note_id)
        self._offer_on(step)
        await self._record()
        return self._state

    @decline_offer.validator
    def _validate_decline_offer(self, input: AnswerOfferInput) -> None:
        self._check_answer(input, declining=True)

    def _check_answer(self, input: AnswerOfferInput, *, declining: bool) -> tuple[StepState, Offer]:
        return offers.check_answer(
            self._state, input.offer_id, input.actor, workflow.now(),
            declining=declining, note_id=input.note_id,
        )  # fmt: skip

    # absence ------------------------------------------------------------------------------

    @workflow.update
    async def absence(self, input: AbsenceInput) -> ProcessState:
        require_running(self._state)
        absences.check(input)
        now = workflow.now()
        known = absences.replaced(self._state.absences, input, now)
        changed = known != self._state.absences
        self._state.absences = known
        moved = self._move_to_substitute(input.user_id)
        if changed or moved:
            await self._record()
        return self._state

    @absence.validator
    def _validate_absence(self, input: AbsenceInput) -> None:
        require_running(self._state)
        absences.check(input)

    def _move_to_substitute(self, user_id: UUID) -> bool:
        """The user is away now: their open steps, and the reviews waiting for them, go to
        their substitute (both told). Steps moved before are theirs no more: nothing twice."""
        away = absences.running(self._state.absences, user_id, workflow.now())
        if away is None:
            return False
        moved = False
        for step in self._state.steps:
            assignee = step.assignee
            if (
                step.status == "active"
                and assignee.type in ("user", "contact")
                and assignee.user_id == user_id
            ):
                step.assignee = ResolvedAssignee(type="user", user_id=away.substitute_user_id)
                self._substituted(step, away)
                moved = True
            elif step.status == "in_review" and step.reviewer_user_id == user_id:
                step.reviewer_user_id = away.substitute_user_id
                self._substituted(step, away)
                moved = True
        return moved

    def _substitute_if_away(self, step: StepState) -> None:
        """A step opening for a user (or the contact person) who is away opens for their
        substitute."""
        assignee = step.assignee
        if assignee.type not in ("user", "contact"):
            return
        away = absences.running(self._state.absences, assignee.user_id, workflow.now())
        if away is not None:
            step.assignee = ResolvedAssignee(type="user", user_id=away.substitute_user_id)
            self._substituted(step, away)

    def _substituted(self, step: StepState, away: Absence) -> None:
        """The step (or its review) went from the user away to the substitute: both told."""
        step.substitute_for_user_id = away.user_id
        self._note(
            "step_substituted", step.key, user_id=away.user_id,
            detail=str(away.substitute_user_id),
        )  # fmt: skip
        key = f"{step.key}:substituted:{away.user_id}:{away.starts_at.isoformat()}"
        language = self._template.language
        self._queue_notice(
            step, "step_substituted", f"{key}:substitute",
            notices.substitute(language, step.name), user_id=away.substitute_user_id,
        )  # fmt: skip
        self._queue_notice(
            step, "step_substituted", f"{key}:away",
            notices.substituted(language, step.name), user_id=away.user_id,
        )  # fmt: skip

    # skip_step ----------------------------------------------------------------------------

    @workflow.update
    async def skip_step(self, input: SkipStepInput) -> ProcessState:
        step = open_step(self._state, input.step_key, OPEN_STATUSES)
        authorize_staff(self._state, input.actor)
        self._withdraw_offers(step)
        step.status = "skipped"
        step.completed_at = workflow.now()
        step.completed_by = completed_by(input.actor, True)
        self._note("step_skipped", step.key, input.actor, note_id=input.note_id)
        self._advance()
        await self._record()
        return self._state

    @skip_step.validator
    def _validate_skip_step(self, input: SkipStepInput) -> None:
        open_step(self._state, input.step_key, OPEN_STATUSES)
        authorize_staff(self._state, input.actor)

    # set_deadline -------------------------------------------------------------------------

    @workflow.update
    async def set_deadline(self, input: SetDeadlineInput) -> ProcessState:
        step = open_step(self._state, input.step_key, OPEN_STATUSES)
        on_behalf = authorize(self._state, step, input.actor, "steps:set_deadline")
        check_not_offered(step)
        due_at = moment_from_value(input.due, self._tz)
        moved = step.due_at != due_at
        self._set_due(step, due_at, by_hand=True)
        self._note("deadline_set", step.key, input.actor, due_at.isoformat())
        partner_id = step.assignee.partner_id
        if step.status == "active" and partner_id is not None and on_behalf:
            key = f"{step.key}:deadline:{due_at.isoformat()}"
            self._queue_email(
                step,
                "deadline_changed",
                key,
                partner_id=partner_id,
            )
        elif (
            step.status == "active"
            and partner_id is not None
            and input.actor.partner_id == partner_id
            and moved  # the same date again (a second click) confirms nothing new
            and versions.taken(self._input.code_version, versions.APPOINTMENT_CONFIRMED)
        ):
            # The partner set or moved its appointment itself: its calendar hears it by e-mail
            # too. The state's version in the key: back to an earlier date is a new e-mail.
            key = f"{step.key}:appointment:{due_at.isoformat()}:{self._state.version}"
            self._queue_email(step, "appointment", key, partner_id=partner_id)
        await self._record()
        return self._state

    @set_deadline.validator
    def _validate_set_deadline(self, input: SetDeadlineInput) -> None:
        step = open_step(self._state, input.step_key, OPEN_STATUSES)
        authorize(self._state, step, input.actor, "steps:set_deadline")
        check_not_offered(step)
        new_due(step, input.due, self._tz, workflow.now())

    # reassign -----------------------------------------------------------------------------

    @workflow.update
    async def reassign(self, input: ReassignInput) -> ProcessState:
        step = open_step(self._state, input.step_key, OPEN_STATUSES)
        authorize_staff(self._state, input.actor)
        self._hand_to(step, self._assignable(input.assignee))
        self._note("step_reassigned", step.key, input.actor)
        await self._record()
        return self._state

    @reassign.validator
    def _validate_reassign(self, input: ReassignInput) -> None:
        step = open_step(self._state, input.step_key, OPEN_STATUSES)
        authorize_staff(self._state, input.actor)
        partner_id = self._resolve(input.assignee).partner_id
        if partner_id is not None and partner_id in self._state.revoked_partner_ids:
            raise refuse("invalid", f"assignee.partner_id: partner {partner_id} is revoked")
        if self._resolve(input.assignee) == step.assignee:
            raise refuse("conflict", f"step '{step.key}' is already assigned so")

    # add_document -------------------------------------------------------------------------

    @workflow.update
    async def add_document(self, input: AddDocumentInput) -> ProcessState:
        step = open_step(self._state, input.step_key, ("active",))
        authorize(self._state, step, input.actor, "documents:upload")
        if all(doc.id != input.document.id for doc in step.documents):
            step.documents.append(input.document)
            self._note("document_added", step.key, input.actor, input.document.type)
        await self._record()
        return self._state

    @add_document.validator
    def _validate_add_document(self, input: AddDocumentInput) -> None:
        step = open_step(self._state, input.step_key, ("active",))
        authorize(self._state, step, input.actor, "documents:upload")
        types = [doc.type for doc in self._specs[step.key].documents]
        if types and input.document.type not in types:
            raise refuse(
                "invalid",
                f"step '{step.key}', document type '{input.document.type}': "
                f"the step takes {', '.join(types)}",
            )

    # cancel -------------------------------------------------------------------------------

    @workflow.update
    async def cancel(self, input: CancelInput) -> ProcessState:
        require_running(self._state)
        authorize_staff(self._state, input.actor)
        for step in self._state.steps:
            # a partner whose work waits for its review is told too
            told = step.status in ("active", "in_review")
            if told and step.assignee.partner_id is not None:
                key = f"{step.key}:cancelled:{step.assignee.partner_id}"
                self._queue_email(
                    step,
                    "cancelled",
                    key,
                    partner_id=step.assignee.partner_id,
                )
            self._withdraw_offers(step)
            if step.status in OPEN_STATUSES:
                step.status = "cancelled"
        self._state.status = "cancelled"
        self._state.completed_at = workflow.now()
        self._note("process_cancelled", None, input.actor, note_id=input.note_id)
        await self._record()
        return self._state

    @cancel.validator
    def _validate_cancel(self, input: CancelInput) -> None:
        require_running(self._state)
        authorize_staff(self._state, input.actor)

    # partner_revoked ----------------------------------------------------------------------

    @workflow.update
    async def partner_revoked(self, input: PartnerRevokedInput) -> ProcessState:
        partner_id = input.partner_id
        if partner_id not in self._state.revoked_partner_ids:
            self._state.revoked_partner_ids.append(partner_id)
        moved = self._held_by(partner_id)
        contact = ResolvedAssignee(type="contact", user_id=self._state.contact_user_id)
        for step in moved:
            # No `reassigned` e-mail: a revoked partner is sent nothing, not even that.
            step.assignee = contact
            if step.status == "active":
                self._substitute_if_away(step)
        self._note("partner_revoked", detail=str(partner_id))
        for step in self._offered_to(partner_id):
            # withdrawn without a word to it; the offer goes on to the next (or the contact)
            self._withdraw_offers(step, partner_id=partner_id)
            self._offer_on(step)
        told = self._tell_contact_partner_revoked(partner_id, moved) if moved else None
        await self._record()
        if told is not None and self._lanes() and not self._rewrites():
            # Runs recorded before: the caller was answered only once the contact person's
            # notice had its first attempt, behind the e-mail (a slow SMTP server made the
            # API's call time out). Now it answers once the steps moved are recorded.
            await workflow.wait_condition(lambda: all(item is not told for item in self._outgoing))
        return self._state

    @partner_revoked.validator
    def _validate_partner_revoked(self, input: PartnerRevokedInput) -> None:
        require_running(self._state)
        if self._held_by(input.partner_id) or self._offered_to(input.partner_id):
            return
        told = input.partner_id in self._state.revoked_partner_ids
        if told or not self._names(input.partner_id):
            # Told already (the API and the reconciler may both tell it), or never bound here.
            raise refuse("conflict", f"partner {input.partner_id}: nothing here is left with it")

    def _held_by(self, partner_id: UUID) -> list[StepState]:
        """The partner's open steps: the active ones and those still to come."""
        return [
            step
            for step in self._state.steps
            if step.status in OPEN_STATUSES and step.assignee.partner_id == partner_id
        ]

    def _offered_to(self, partner_id: UUID) -> list[StepState]:
        """The offered steps with an offer pending for the partner."""
        return [
            step
            for step in self._state.steps
            if step.status == "offered"
            and any(offer.partner_id == partner_id for offer in offers.pending(step))
        ]

    def _names(self, partner_id: UUID) -> bool:
        """Is the partner bound here: to a step, a slot, an escalation's reassignment, or an
        offer it may still get?"""
        escalates_to = {
            spec.escalation.reassign_to.partner_id
            for spec in self._template.steps
            if spec.escalation is not None
            and isinstance(spec.escalation.reassign_to, PartnerAssignee)
        }
        return (
            partner_id in self._state.partner_ids
            or partner_id in escalates_to
            or partner_id in self._offer_candidates([])
        )

    def _offer_candidates(self, revoked: list[UUID]) -> list[UUID]:
        """The partners the template's offers may go to (named, or the pool found at the
        start), once each, in the steps' order, without `revoked`."""
        found: dict[UUID, None] = {}
        for spec in self._template.steps:
            if isinstance(spec.assignee, OfferAssignee):
                pool = self._input.offer_pools.get(spec.key, [])
                found.update(dict.fromkeys(offers.candidates(spec.assignee, pool, revoked)))
        return list(found)

    def _tell_contact_partner_revoked(
        self, partner_id: UUID, moved: list[StepState]
    ) -> NotificationRequest:
        """One e-mail and one notice to the contact person, about the steps now theirs (the
        e-mail names the first, an active one if any); answers the notice."""
        contact = self._state.contact_user_id
        first = next((step for step in moved if step.status == "active"), moved[0])
        key = f"partner_revoked:{partner_id}"
        # the e-mail names the partner it is about (it goes to the contact, not to it)
        self._queue_email(
            first, "partner_revoked", key, user_id=contact, about_partner_id=partner_id
        )
        message = notices.partner_revoked(self._template.language, [s.name for s in moved])
        notice = outgoing.notice(
            self._state, first, "partner_revoked", key, message, user_id=contact
        )
        self._send_notice(notice)
        return notice

    # transitions --------------------------------------------------------------------------

    def _advance(self) -> None:
        """Open every step whose requirements are done, or decide it `not_applicable` (its
        condition does not hold): done in turn, which may decide the steps after it, so again
        until nothing changes. Complete the process when all steps are done.

        Without conditions the first pass is the only one, and it is the loop as it was: runs
        recorded before conditions emit the same commands (no patch)."""
        changed = True
        while changed:
            changed = False
            done = {s.key for s in self._state.steps if s.status in DONE_STATUSES}
            for step in self._state.steps:
                if step.status == "pending" and set(step.requires) <= done:
                    if not self._applies(step):
                        step.status = "not_applicable"
                        self._note("step_not_applicable", step.key)
                        changed = True
                        continue
                    self._activate(step)
        if all(s.status in DONE_STATUSES for s in self._state.steps):
            self._state.status = "completed"
            self._state.completed_at = workflow.now()
            self._note("process_completed")
            _count("partnerflow_processes_completed", "processes completed")

    def _applies(self, step: StepState) -> bool:
        """The step's condition, on the opportunity's facts and what steps recorded (a step
        that did not apply recorded nothing: its fields are empty)."""
        when = self._specs[step.key].when
        if when is None:
            return True
        recorded = {s.key: s.fields for s in self._state.steps}
        try:
            return holds(when, self._input.facts, recorded)
        except (ValueError, TypeError):
            # Saving refuses what cannot be decided; should one slip through, the step opens
            # (a person can skip it) rather than the process failing its task over and over.
            workflow.logger.warning("step %s: its condition cannot be decided", step.key)
            return True

    def _activate(self, step: StepState) -> None:
        """Open a step: its deadline (now, or once the activity answered), its hand-over. A
        step for an offer is offered first; one for a person away opens for their substitute."""
        if step.assignee.type == "offer":
            self._offer(step)
            return
        step.status = "active"
        step.activated_at = workflow.now()
        self._note("step_activated", step.key)
        self._substitute_if_away(step)
        if not step.due_set_by_hand:
            if self._due_from_activity(step):
                # due and hand-over once the activity answered (_compute_dues)
                self._awaiting_due.append(step.key)
                return
            self._set_due(step, self._rule_due(step), by_hand=False)
        self._hand_over(step)

    def _rule_due(self, step: StepState) -> datetime | None:
        rule = self._specs[step.key].deadline
        if rule is None:
            return None
        if isinstance(rule, AfterDeadline | BusinessDaysDeadline):
            base = self._deadline_base(step, rule)
            if isinstance(rule, AfterDeadline):
                return shift(base, parse_duration(rule.after), self._tz)
            return add_business_days(base, rule.business_days, self._tz, rule.region)
        value = find_step(self._state, rule.from_field.step).fields.get(rule.from_field.field)
        if not isinstance(value, str):
            return None  # an optional date left empty: the step has no deadline
        return shift(moment_from_value(value, self._tz), parse_duration(rule.offset), self._tz)

    def _deadline_base(
        self, step: StepState, rule: AfterDeadline | BusinessDaysDeadline
    ) -> datetime:
        """Where a deadline counts from: the step's activation or the process's start."""
        base = step.activated_at if rule.from_ == "activation" else self._state.started_at
        assert base is not None
        return base

    def _due_from_activity(self, step: StepState) -> bool:
        rule = self._specs[step.key].deadline
        return isinstance(rule, BusinessDaysDeadline) and (
            self._one_write or workflow.patched(versions.BUSINESS_DAYS_RECORDED)
        )

    async def _compute_dues(self) -> None:
        """The business-day deadlines of the steps just opened, from a local activity whose
        answer history keeps; then their hand-over, which names the deadline."""
        while self._awaiting_due:
            step = find_step(self._state, self._awaiting_due.pop(0))
            rule = self._specs[step.key].deadline
            assert isinstance(rule, BusinessDaysDeadline)
            start = self._deadline_base(step, rule)
            due_at: datetime | None = None
            self._computing_due += 1
            try:
                due_at = await workflow.execute_local_activity(
                    business_days_due,
                    BusinessDaysInput(
                        start=start,
                        business_days=rule.business_days,
                        timezone=self._tz,
                        region=rule.region,
                    ),
                    start_to_close_timeout=retries.BUSINESS_DAYS.start_to_close,
                    schedule_to_close_timeout=retries.BUSINESS_DAYS.schedule_to_close,
                    retry_policy=retries.BUSINESS_DAYS.retry,
                    summary=summaries.business_days(step.key, rule.business_days, rule.region),
                )
            except ActivityError as error:
                # No deadline rather than a stuck process; a person sets one by hand.
                self._flag(
                    attention.note(
                        error, at=workflow.now(), source="deadline", step_key=step.key,
                        kind=None, cap=None,
                    )
                )  # fmt: skip
            finally:
                self._computing_due -= 1
            if step.status != "active":
                continue  # finished or cancelled while the activity ran
            if not step.due_set_by_hand:
                self._set_due(step, due_at, by_hand=False)
            if step.assignments == 0:
                self._hand_over(step)
        # A concurrent caller computes another step's deadline: its write waits for it.
        await workflow.wait_condition(lambda: self._computing_due == 0)

    def _set_due(self, step: StepState, due_at: datetime | None, *, by_hand: bool) -> None:
        step.due_at = due_at
        step.due_set_by_hand = step.due_set_by_hand or by_hand
        step.overdue = False
        step.reminders_sent = []

    def _hand_over(self, step: StepState) -> None:
        """Tell the assignee the step is theirs: the hand-over e-mail for partners."""
        step.assignments += 1
        assignee = step.assignee
        key = f"{step.key}:handover:{step.assignments}"
        message = notices.assigned(self._template.language, step.name)
        match assignee.type:
            case "partner" | "partner_slot":
                if assignee.partner_id is None:
                    return  # a slot the process started without: nobody to tell
                self._queue_email(step, "handover", key, partner_id=assignee.partner_id)
                self._queue_notice(
                    step, "step_assigned", key, message, partner_id=assignee.partner_id
                )
            case "user" | "contact":
                if assignee.user_id is None:
                    return
                if self._specs[step.key].on_activate_email is not None:
                    self._queue_email(step, "handover", key, user_id=assignee.user_id)
                self._queue_notice(step, "step_assigned", key, message, user_id=assignee.user_id)
            case "offer":
                pass  # offered when it opens; handed over to the partner who accepts
            case _:
                assert_never(assignee.type)

    def _hand_to(self, step: StepState, assignee: ResolvedAssignee) -> None:
        if step.status == "offered":
            # taken out of the offer (the partners asked are told): it opens for the assignee
            self._withdraw_offers(step)
            step.assignee = assignee
            self._include_partner(assignee.partner_id)
            self._activate(step)
            return
        previous = step.assignee.partner_id
        if step.status == "active" and previous is not None:
            key = f"{step.key}:reassigned:{step.assignments}"
            self._queue_email(step, "reassigned", key, partner_id=previous)
        step.assignee = assignee
        self._include_partner(assignee.partner_id)
        if step.status == "active":
            self._substitute_if_away(step)
            self._hand_over(step)

    def _include_partner(self, partner_id: UUID | None) -> None:
        if partner_id and partner_id not in self._state.partner_ids:
            self._state.partner_ids.append(partner_id)

    # offers -------------------------------------------------------------------------------

    def _offer(self, step: StepState) -> None:
        """The step opens as an offer: to every candidate at once, or to the first in rank;
        with nobody to ask, the contact person has it at once."""
        assignee = self._specs[step.key].assignee
        assert isinstance(assignee, OfferAssignee)
        now = workflow.now()
        step.status = "offered"
        step.offer_expires_at = shift(now, parse_duration(assignee.expires), self._tz)
        self._note("step_offered", step.key)
        if assignee.mode == "first_accept":
            for partner_id in self._candidates(step):
                self._make_offer(step, partner_id, step.offer_expires_at)
        self._offer_on(step)

    def _candidates(self, step: StepState) -> list[UUID]:
        """Whom the step may still be offered to, in rank order (none revoked, none asked)."""
        assignee = self._specs[step.key].assignee
        assert isinstance(assignee, OfferAssignee)
        pool = self._input.offer_pools.get(step.key, [])
        ranked = offers.candidates(assignee, pool, self._state.revoked_partner_ids)
        return offers.not_yet_offered(step, ranked)

    def _offer_on(self, step: StepState) -> None:
        """An offer was answered or ran out: while one is pending, nothing; ranked, the next
        partner's turn; with nobody left to ask, the contact person has the step."""
        if step.status != "offered" or offers.pending(step):
            return
        assignee = self._specs[step.key].assignee
        assert isinstance(assignee, OfferAssignee) and step.offer_expires_at is not None
        now = workflow.now()
        following = self._candidates(step) if assignee.mode == "ranked" else []
        if following and now < step.offer_expires_at:
            turn_ends = shift(now, parse_duration(assignee.wait), self._tz)
            self._make_offer(step, following[0], min(turn_ends, step.offer_expires_at))
            return
        self._offer_to_contact(step, "nobody left to ask")

    def _make_offer(self, step: StepState, partner_id: UUID, expires_at: datetime) -> None:
        offer = Offer(
            id=workflow.uuid4(),
            partner_id=partner_id,
            offered_at=workflow.now(),
            expires_at=expires_at,
        )
        step.offers.append(offer)
        self._note("offer_made", step.key, detail=str(partner_id))
        key = f"{step.key}:offer:{offer.id}"
        spec = self._specs[step.key]
        email = outgoing.email(
            self._state, self._template, spec, step, "offer", key, partner_id=partner_id
        )
        # the step has no deadline yet: the e-mail names until when the offer stands
        self._outgoing.append(email.model_copy(update={"due_at": expires_at}))
        message = notices.offered(self._template.language, step.name)
        self._queue_notice(step, "offer", key, message, partner_id=partner_id)

    def _withdraw_offers(self, step: StepState, partner_id: UUID | None = None) -> None:
        """The step's pending offers (or the partner's) are withdrawn; each partner still
        active is told (a revoked one is sent nothing)."""
        for offer in offers.pending(step):
            if partner_id is not None and offer.partner_id != partner_id:
                continue
            offer.status = "withdrawn"
            if offer.partner_id in self._state.revoked_partner_ids:
                continue
            key = f"{step.key}:offer_withdrawn:{offer.id}"
            self._queue_email(step, "offer_withdrawn", key, partner_id=offer.partner_id)
            message = notices.offer_withdrawn(self._template.language, step.name)
            self._queue_notice(step, "offer_withdrawn", key, message, partner_id=offer.partner_id)

    def _offer_to_contact(self, step: StepState, why: str) -> None:
        """Nobody took the offer: what is pending expires, and the step opens for the contact
        person (its deadline from now, the hand-over), who is told why."""
        for offer in offers.pending(step):
            offer.status = "expired"
        contact = self._state.contact_user_id
        step.assignee = ResolvedAssignee(type="contact", user_id=contact)
        self._note("offer_expired", step.key, detail=why)
        message = notices.offer_expired(self._template.language, step.name)
        self._queue_notice(
            step, "offer_expired", f"{step.key}:offer_expired", message, user_id=contact
        )
        self._activate(step)

    def _on_offer_moment(self, step: StepState) -> None:
        """An offer watcher rang: the offer expired, or a ranked turn ended unanswered."""
        now = workflow.now()
        assert step.offer_expires_at is not None  # offered
        if now >= step.offer_expires_at:
            self._offer_to_contact(step, "nobody accepted before it expired")
        else:
            for offer in offers.pending(step):
                if offer.expires_at <= now:
                    offer.status = "expired"
                    self._note("offer_turn_ended", step.key, detail=str(offer.partner_id))
            self._offer_on(step)
        self._dirty = True

    # deadlines ----------------------------------------------------------------------------

    def _on_alarm(self, step: StepState, alarm: Alarm) -> None:
        """A watcher's alarm for an active step whose deadline it was set for."""
        match alarm.kind:
            case "reminder":
                self._remind(step, alarm.offset)
            case "overdue":
                self._mark_overdue(step)
            case "reassign":
                self._escalate(step)
            case _:
                assert_never(alarm.kind)
        self._dirty = True

    def _remind(self, step: StepState, offset: str) -> None:
        step.reminders_sent.append(offset)
        self._note("reminder_sent", step.key, detail=offset)
        key = f"{step.key}:reminder:{step.due_at.isoformat() if step.due_at else ''}:{offset}"
        assignee = step.assignee
        self._queue_email(
            step,
            "reminder",
            key,
            partner_id=assignee.partner_id,
            user_id=assignee.user_id,
        )

    def _mark_overdue(self, step: StepState) -> None:
        _count("partnerflow_steps_overdue", "steps whose deadline passed")
        step.overdue = True
        self._note("step_overdue", step.key)
        escalation = self._specs[step.key].escalation
        if escalation is None or escalation.notify_contact:
            due = step.due_at.isoformat() if step.due_at else ""
            self._to_contact(step, "overdue", "step_overdue", f"{step.key}:overdue:{due}")

    def _escalate(self, step: StepState) -> None:
        escalation = self._specs[step.key].escalation
        assert escalation is not None and escalation.reassign_to is not None
        step.escalated = True
        self._hand_to(step, self._assignable(escalation.reassign_to))
        self._note("step_escalated", step.key)

    # people -------------------------------------------------------------------------------

    def _resolve(self, assignee: AnyAssignee) -> ResolvedAssignee:
        """The assignee bound to ids: a slot to the partner the process started with, the
        contact person to the process's contact."""
        match assignee:
            case PartnerAssignee():
                return ResolvedAssignee(type="partner", partner_id=assignee.partner_id)
            case PartnerSlotAssignee():
                return ResolvedAssignee(
                    type="partner_slot",
                    slot=assignee.slot,
                    partner_id=self._input.partners.get(assignee.slot),
                )
            case UserAssignee():
                return ResolvedAssignee(type="user", user_id=assignee.user_id)
            case ContactAssignee():
                return ResolvedAssignee(type="contact", user_id=self._input.contact_user_id)
            case OfferAssignee():
                return ResolvedAssignee(type="offer")
            case _:
                assert_never(assignee)

    def _assignable(self, assignee: AnyAssignee) -> ResolvedAssignee:
        """Who gets a step handed over now: a revoked partner's share goes to the contact."""
        resolved = self._resolve(assignee)
        if resolved.partner_id is not None and resolved.partner_id in (
            self._state.revoked_partner_ids
        ):
            return ResolvedAssignee(type="contact", user_id=self._state.contact_user_id)
        return resolved

    # outgoing -----------------------------------------------------------------------------

    def _queue_email(self, step: StepState, kind: EmailKind, key: str, **to: UUID | None) -> None:
        self._outgoing.append(
            outgoing.email(
                self._state, self._template, self._specs[step.key], step, kind, key, **to
            )
        )

    def _queue_notice(
        self, step: StepState, kind: NotificationKind, key: str, message: str, **to: UUID | None
    ) -> None:
        self._send_notice(outgoing.notice(self._state, step, kind, key, message, **to))

    def _send_notice(self, notice: NotificationRequest) -> None:
        """With the next write of the state, or (runs recorded before) through the lane."""
        if self._one_write:
            self._notices.append(notice)
        else:
            self._outgoing.append(notice)

    def _to_contact(
        self,
        step: StepState,
        email_kind: EmailKind,
        notice_kind: Literal["step_completed", "step_overdue"],
        key: str,
    ) -> None:
        contact = self._state.contact_user_id
        language = self._template.language
        message = (
            notices.completed(language, step.name)
            if notice_kind == "step_completed"
            else notices.overdue(language, step.name)
        )
        self._queue_email(step, email_kind, key, user_id=contact)
        self._queue_notice(step, notice_kind, key, message, user_id=contact)

    def _note(
        self,
        event: str,
        step_key: str | None = None,
        actor: Actor | None = None,
        detail: str | None = None,
        note_id: UUID | None = None,
        user_id: UUID | None = None,
    ) -> None:
        self._state.timeline.append(
            TimelineEntry(
                at=workflow.now(),
                event=event,
                step_key=step_key,
                user_id=actor.user_id if actor else user_id,
                detail=detail,
                note_id=note_id,
            )
        )

    def _flag(self, note: AttentionNote) -> None:
        """Something failed for good: noted in the state, the timeline and Temporal's list."""
        if not self._state.attention:
            workflow.upsert_search_attributes([PF_ATTENTION.value_set(True)])
        self._state.attention = [*self._state.attention, note][-attention.NOTES_KEPT :]
        event = f"{note.kind}_failed" if note.kind else f"{note.source}_failed"
        self._note(event, note.step_key, detail=note.reason)

    async def _record(self) -> None:
        if self._awaiting_due or self._computing_due:
            await self._compute_dues()
        self._dirty = False
        self._watchers.sync(self._state.steps)
        self._offer_watchers.sync(self._state.steps)
        self._state.version += 1
        snapshot = self._state.model_copy(deep=True)
        # the partners an offer may go to, too: a revocation finds the process by them (a
        # revoked one stays listed, as in `partner_ids`: revoking changes no attribute)
        may_be_offered = self._offer_candidates([])
        updates = search_attributes.of_state(snapshot, may_be_offered)
        if self._one_write:
            # against what the run carries now (its start's, then its upserts': replay and
            # continue-as-new recompute it), so an unchanged value is not written again
            updates = search_attributes.changed(updates, workflow.info().typed_search_attributes)
        if updates:
            workflow.upsert_search_attributes(updates)
        workflow.set_current_details(summaries.current_details(snapshot, self._tz))
        if not self._lanes():
            await workflow.execute_activity_method(
                ReadModelActivities.record_process_state,
                snapshot,
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=retries.LEGACY_READ_MODEL,
                summary=summaries.record_state(snapshot.version),
            )
            self._recorded_version = max(self._recorded_version, snapshot.version)
            return
        call = retries.READ_MODEL
        carried = list(self._notices)
        try:
            if self._one_write:
                # a local activity: no activity task round trip, one marker in history
                await workflow.execute_local_activity_method(
                    ReadModelActivities.record_transition,
                    TransitionWrite(
                        state=snapshot,
                        notices=carried,
                        history_length=workflow.info().get_current_history_length(),
                    ),
                    start_to_close_timeout=call.start_to_close,
                    schedule_to_close_timeout=call.schedule_to_close,
                    retry_policy=call.retry,
                    summary=summaries.record_state(snapshot.version),
                )
            else:
                await workflow.execute_activity_method(
                    ReadModelActivities.record_process_state,
                    snapshot,
                    start_to_close_timeout=call.start_to_close,
                    schedule_to_close_timeout=call.schedule_to_close,
                    retry_policy=call.retry,
                    summary=summaries.record_state(snapshot.version),
                )
        except FailureError as failure:
            error = _as_activity_error(failure, "record_transition")
            # The process goes on: the next write carries the whole state again (and this
            # note). Not marked dirty, which would fail in a tight loop: the main loop writes
            # it again on a timer (_write_again_later), flagged once per failing spell.
            if self._unwritten_since is None:
                self._flag(
                    attention.note(
                        error, at=workflow.now(), source="read_model", step_key=None,
                        kind=None, cap=call.schedule_to_close,
                    )
                )  # fmt: skip
            if self._unwritten_since is None and self._rewrites():
                self._unwritten_since = workflow.now()
        else:
            self._unwritten_since = None
            # written with the state (a concurrent write may carry them too: keyed, once)
            self._notices = [n for n in self._notices if all(n is not c for c in carried)]
        # Settled, written or not: a caller of await_recorded is answered either way.
        self._recorded_version = max(self._recorded_version, snapshot.version)

    # the outgoing lane --------------------------------------------------------------------

    def _lane_idle(self) -> bool:
        # the item in its first attempt stays at the head of `_outgoing` until it is done
        return not self._outgoing and not self._retrying

    async def _send_outgoing(self) -> None:
        """Sends what is queued, oldest first, one first attempt at a time (so people get
        their e-mails in order); an item whose attempt failed for a passing reason retries on
        its own, and the next one goes out at once."""
        while True:
            await workflow.wait_condition(lambda: bool(self._outgoing))
            item = self._outgoing[0]
            try:
                await self._deliver(item, first_attempt=True)
            except ActivityError as error:
                if attention.is_permanent(error):
                    self._failed(item, error)
                else:
                    retry = asyncio.create_task(self._retry(item))
                    self._retrying.add(retry)
                    retry.add_done_callback(self._retrying.discard)
            finally:
                self._outgoing.pop(0)

    async def _retry(self, item: Outgoing) -> None:
        try:
            await self._deliver(item, first_attempt=False)
        except ActivityError as error:
            self._failed(item, error)

    async def _deliver(self, item: Outgoing, *, first_attempt: bool) -> None:
        call = retries.EMAIL if isinstance(item, EmailRequest) else retries.NOTICE
        policy = retries.ONE_ATTEMPT if first_attempt else call.retry
        cap = None if first_attempt else call.schedule_to_close
        about = summaries.outgoing(item, retry=not first_attempt)
        if isinstance(item, EmailRequest):
            await workflow.execute_activity_method(
                EmailActivities.send_email,
                item,
                start_to_close_timeout=call.start_to_close,
                schedule_to_close_timeout=cap,
                retry_policy=policy,
                summary=about,
            )
        else:
            await workflow.execute_activity_method(
                NotificationActivities.notify,
                item,
                start_to_close_timeout=call.start_to_close,
                schedule_to_close_timeout=cap,
                retry_policy=policy,
                summary=about,
            )

    def _failed(self, item: Outgoing, error: ActivityError) -> None:
        """An item failed for good: flagged, and for an e-mail the contact person is told."""
        email = isinstance(item, EmailRequest)
        workflow.logger.warning("%s for step %s failed: %s", item.kind, item.step_key, error)
        self._flag(
            attention.note(
                error, at=workflow.now(), source="email" if email else "notification",
                step_key=item.step_key, kind=item.kind,
                cap=(retries.EMAIL if email else retries.NOTICE).schedule_to_close,
            )
        )  # fmt: skip
        self._dirty = True
        if isinstance(item, EmailRequest):
            self._tell_contact_delivery_failed(item)

    def _tell_contact_delivery_failed(self, item: EmailRequest) -> None:
        """An in-app notice to the contact person: an e-mail about the step did not go out."""
        step = find_step(self._state, item.step_key)
        self._queue_notice(
            step,
            "delivery_failed",
            f"{item.step_key}:{item.kind}:failed",
            notices.delivery_failed(self._template.language, step.name),
            user_id=self._state.contact_user_id,
        )

    async def _flush(self) -> None:
        """Runs recorded before the lane: record what the timers changed, then send what is
        queued, head-first (a retrying item holds up the rest: what the lane fixes)."""
        if self._dirty:
            await self._record()
        while self._outgoing:
            item = self._outgoing[0]
            try:
                # every attempt up to the cap at once (the same command as then; only the
                # summary, metadata, says "retry")
                await self._deliver(item, first_attempt=False)
            except ActivityError as error:
                # An e-mail that cannot go out must not stop the process: it is noted, and
                # the contact person is told in the app.
                workflow.logger.warning(
                    "%s for step %s failed: %s", item.kind, item.step_key, error
                )
                self._note(f"{item.kind}_failed", item.step_key)
                self._dirty = True
                if isinstance(item, EmailRequest):
                    self._tell_contact_delivery_failed(item)
            self._outgoing.pop(0)
        if self._dirty:
            await self._record()
