"""The bare-Temporal floor: a workflow shaped like a three-step partner process, nothing else.

It has the product's updates and activities and their order, without its state, rules,
search attributes, database or e-mails: an update-with-start that waits for the first
"record" activity, then one `complete` update per step, each awaiting one "record" activity
while the main loop runs the step's "side" activities (the product's e-mails and in-app
notices) one after the other. How many side activities follow the start and each update is
the input, counted from a real `PartnerProcessWorkflow` history by `bench.run`.

Two switches, off for (a), add what the product asks of Temporal beyond that shape: the
search-attribute upserts of every transition, and payloads the size of its state.
The worker that runs it is `bench.bare_worker`, a process of its own as the product's is.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.search_attributes import PF_ACTIVE_STEPS, PF_NEXT_DUE, PF_PARTNERS, PF_STATUS

RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10))


@dataclass
class BareInput:
    # side activities after the start, then after each `complete` update
    side: list[int] = field(default_factory=lambda: [1, 2, 3, 0])
    # Ablations, off in (a): what the product's search attributes and payload sizes cost.
    upsert_search_attributes: bool = False
    pad_bytes: int = 0


@dataclass
class BareEvent:
    step: int
    payload: str = ""


@activity.defn
def bare_record(event: BareEvent) -> None:
    """Stands in for `record_process_state`: does nothing."""


@activity.defn
def bare_side(event: BareEvent) -> None:
    """Stands in for `send_email` and `notify`: does nothing."""


@workflow.defn
class BareProcessWorkflow:
    @workflow.init
    def __init__(self, input: BareInput) -> None:
        self._side = list(input.side)
        self._steps = len(self._side) - 1
        self._completed = 0
        self._pending = self._side[0]
        self._recorded = 0
        self._done = False
        self._upsert = input.upsert_search_attributes
        self._pad = "x" * input.pad_bytes

    @workflow.run
    async def run(self, input: BareInput) -> int:
        await self._record()
        while True:
            await workflow.wait_condition(lambda: self._pending > 0 or self._done)
            while self._pending:
                await workflow.execute_activity(
                    bare_side,
                    BareEvent(step=self._completed, payload=self._pad),
                    start_to_close_timeout=timedelta(seconds=60),
                    retry_policy=RETRY,
                )
                self._pending -= 1
            if self._done:
                await workflow.wait_condition(workflow.all_handlers_finished)
                return self._completed

    @workflow.update
    async def await_recorded(self) -> BareEvent:
        await workflow.wait_condition(lambda: self._recorded >= 1)
        return BareEvent(step=self._recorded, payload=self._pad)

    @workflow.update
    async def complete(self, step: int) -> BareEvent:
        self._completed += 1
        self._pending += self._side[self._completed]
        self._done = self._completed >= self._steps
        await self._record()
        return BareEvent(step=self._completed, payload=self._pad)

    @complete.validator
    def _validate_complete(self, step: int) -> None:
        if step != self._completed or self._done:
            raise ValueError(f"step {step} is not open")

    async def _record(self) -> None:
        if self._upsert:  # as PartnerProcessWorkflow._record does on every transition
            active = [] if self._done else [f"step-{self._completed}"]
            workflow.upsert_search_attributes(
                [
                    PF_STATUS.value_set("completed" if self._done else "running"),
                    PF_ACTIVE_STEPS.value_set(active),
                    PF_PARTNERS.value_set(["bench-partner"]),
                    PF_NEXT_DUE.value_unset(),
                ]
            )
        await workflow.execute_activity(
            bare_record,
            BareEvent(step=self._completed, payload=self._pad),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RETRY,
        )
        self._recorded += 1
