"""Offers of a step to partners (spec.OfferAssignee): who is offered it, the checks of an
answer, and the durable timers that end a ranked turn and the offer itself.

A step whose assignee is an offer is `offered` when it opens: to every candidate at once
(`first_accept`, each offer until the offer expires) or to one at a time in rank order
(`ranked`, each for `wait`, never past the expiry). The candidates are the template's partners
or the pool found from the service areas when the process started (ProcessInput.offer_pools),
in that order, without the partners revoked since. The first to accept gets the step; once no
offer is pending and nobody is left to ask, or the offer expires, the contact person has it.

The timers are workflow code, as the deadline watchers are (workflows/deadline_watchers.py):
one watcher per offered step sleeps until the sooner of the pending turn's end and the expiry,
and is armed again from the state after a continue-as-new (`sync`).
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from partnerflow.spec import OfferAssignee
    from workflows import summaries
    from workflows.messages import Actor, Offer, ProcessState, StepState
    from workflows.rules import refuse, require_running


def candidates(assignee: OfferAssignee, pool: list[UUID], revoked: list[UUID]) -> list[UUID]:
    """Whom the step may be offered to, in rank order: the named partners, or the pool."""
    ranked = assignee.partners if assignee.partners is not None else pool
    seen: set[UUID] = set()
    chosen = []
    for partner_id in ranked:
        if partner_id not in revoked and partner_id not in seen:
            seen.add(partner_id)
            chosen.append(partner_id)
    return chosen


def not_yet_offered(step: StepState, ranked: list[UUID]) -> list[UUID]:
    offered = {offer.partner_id for offer in step.offers}
    return [partner_id for partner_id in ranked if partner_id not in offered]


def pending(step: StepState) -> list[Offer]:
    return [offer for offer in step.offers if offer.status == "pending"]


def find_offer(state: ProcessState, offer_id: UUID) -> tuple[StepState, Offer]:
    for step in state.steps:
        for offer in step.offers:
            if offer.id == offer_id:
                return step, offer
    raise refuse("not_found", f"offer {offer_id}: no such offer")


def check_answer(
    state: ProcessState,
    offer_id: UUID,
    actor: Actor,
    now: datetime,
    *,
    declining: bool,
    note_id: UUID | None,
) -> tuple[StepState, Offer]:
    """May `actor` answer this offer now? Only a user of the partner it was made to (to anyone
    else it does not exist: partners see only their own), while it is pending, its time has
    not run out (its timer may not have fired yet) and the step is still offered; a decline
    says why."""
    step, offer = find_offer(state, offer_id)
    if actor.partner_id is None or actor.partner_id != offer.partner_id:
        raise refuse("not_found", f"offer {offer_id}: no such offer")
    require_running(state)
    if step.status != "offered":
        raise refuse("conflict", f"offer {offer_id}: step '{step.key}' is no longer offered")
    if offer.status != "pending":
        raise refuse("conflict", f"offer {offer_id} is {offer.status}, no longer pending")
    if offer.expires_at <= now:
        raise refuse("conflict", f"offer {offer_id} ran out, no longer pending")
    if declining and note_id is None:
        raise refuse("invalid", "reason: say why the offer is declined")
    return step, offer


def next_moment(step: StepState) -> datetime | None:
    """When the offered step's watcher rings next: a pending turn's end, or the expiry."""
    if step.status != "offered":
        return None
    moments = [offer.expires_at for offer in pending(step)]
    if step.offer_expires_at is not None:
        moments.append(step.offer_expires_at)
    return min(moments) if moments else None


@dataclass
class _Watcher:
    at: datetime
    task: asyncio.Task[None]


class OfferWatchers:
    """One watcher per offered step; `ring` is called when its next moment has come."""

    def __init__(self, timezone: str, ring: Callable[[StepState], None]) -> None:
        self._tz = timezone
        self._ring = ring
        self._watchers: dict[str, _Watcher] = {}

    def sync(self, steps: list[StepState]) -> None:
        """One watcher per offered step, for its next moment; a moment that moved (a turn
        ended, a partner declined) gets a new one, the old one's timer is cancelled."""
        for step in steps:
            at = next_moment(step)
            watcher = self._watchers.get(step.key)
            if watcher is not None and watcher.at != at:
                watcher.task.cancel()
                del self._watchers[step.key]
                watcher = None
            if at is not None and watcher is None:
                task = asyncio.create_task(self._watch(step, at, self._summary(step, at)))
                self._watchers[step.key] = _Watcher(at=at, task=task)

    def cancel(self) -> None:
        for watcher in self._watchers.values():
            watcher.task.cancel()
        self._watchers.clear()

    def _summary(self, step: StepState, at: datetime) -> str:
        if at == step.offer_expires_at:
            return summaries.offer_expiry_timer(step.key, at, self._tz)
        turn = next(offer for offer in pending(step) if offer.expires_at == at)
        return summaries.offer_turn_timer(step.key, turn.partner_id, at, self._tz)

    async def _watch(self, step: StepState, at: datetime, summary: str) -> None:
        delay = at - workflow.now()
        if delay > timedelta(0):
            await workflow.sleep(delay, summary=summary)
        if next_moment(step) == at:
            self._ring(step)
