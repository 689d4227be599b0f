"""What a chaos run counts, from what the client was told, what each workflow says, what the
read model holds and what the SMTP server accepted. Pure: tested without any server.

- lost start: a `201` for a process whose workflow does not exist.
- lost step: a `2xx` for a step's completion that the process's workflow does not hold.
- duplicate e-mail: an e-mail (one idempotency key) the SMTP server accepted more than once.
- missing e-mail: one a completed process owes that the SMTP server never accepted.
- read-model mismatch: a process whose read model is not what its workflow's state says.
- stuck: a process the client started that did not complete.
- duplicate opportunity: one create call (one Idempotency-Key) that made two.
- failed call: one the client gave up on (no answer, or a refusal it did not expect).
- server error: any 500 answer, retried or not (no input may yield one).
"""

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from workflows.messages import ProcessState

# A few ids per problem in the report: enough to look one up in Temporal or the database.
EXAMPLES = 5


@dataclass
class Ledger:
    """What the client was told, call by call."""

    started: set[str] = field(default_factory=set)
    # process id -> the steps whose completion was answered 2xx
    acknowledged: dict[str, set[str]] = field(default_factory=dict)
    # what the client gave up on, e.g. "complete installation: 409" -> how often
    failed_calls: Counter[str] = field(default_factory=Counter)
    # every HTTP status the client saw, retried attempts included; 0 for no answer
    answers: Counter[int] = field(default_factory=Counter)
    # the 5xx answers it retried, with their detail, e.g. "503 the database did not answer"
    retried: Counter[str] = field(default_factory=Counter)
    # seconds from a call's first attempt to its answer, for the calls that got one
    latencies: list[float] = field(default_factory=list)
    # calls sent and not yet answered, by what they do (e.g. "complete installation")
    in_flight: Counter[str] = field(default_factory=Counter)
    # calls done: answered, or given up on
    calls: int = 0

    def acknowledge(self, process_id: str, step_key: str) -> None:
        self.acknowledged.setdefault(process_id, set()).add(step_key)


@dataclass(frozen=True)
class Recorded:
    """A process as one side shows it, in a form both sides can be compared in."""

    status: str
    version: int
    completed_at: str | None
    # (key, status, completed_at, fields as JSON) in the template's order
    steps: tuple[tuple[str, str, str | None, str], ...]
    timeline: str

    def differences(self, other: "Recorded") -> list[str]:
        return [
            name
            for name in ("status", "version", "completed_at", "steps", "timeline")
            if getattr(self, name) != getattr(other, name)
        ]


def moment(value: datetime | None) -> str | None:
    """A time as UTC ISO text; a naive one (as SQLite may give it back) is taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _fields(fields: dict[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, default=str)


def from_state(state: ProcessState) -> Recorded:
    return Recorded(
        status=state.status,
        version=state.version,
        completed_at=moment(state.completed_at),
        steps=tuple(
            (step.key, step.status, moment(step.completed_at), _fields(step.fields))
            for step in state.steps
        ),
        timeline=json.dumps([entry.model_dump(mode="json") for entry in state.timeline]),
    )


def from_read_model(
    status: str,
    version: int,
    completed_at: datetime | None,
    steps: Iterable[tuple[str, str, datetime | None, dict[str, Any]]],
    timeline: list[dict[str, Any]],
) -> Recorded:
    """The read model's process row and its step rows (key, status, completed_at, fields),
    in position order."""
    return Recorded(
        status=status,
        version=version,
        completed_at=moment(completed_at),
        steps=tuple((key, s, moment(at), _fields(fields)) for key, s, at, fields in steps),
        # the timeline is stored as the workflow's JSON: compare it as JSON text
        timeline=json.dumps(timeline),
    )


@dataclass
class Outcome:
    """One process after the run: its workflow's final state (None: no such workflow), the
    workflow's execution status in Temporal, and its read model (None: no row)."""

    state: ProcessState | None
    execution: str
    read_model: Recorded | None


def owed_emails(state: ProcessState) -> set[str]:
    """The e-mails a process of the chaos template owes: a hand-over to the partner for each
    time a partner step was handed over, a completion to the contact for each partner step
    completed. Its contact steps send none (no `on_activate_email`)."""
    keys: set[str] = set()
    for step in state.steps:
        if step.assignee.partner_id is None:
            continue
        for assignment in range(1, step.assignments + 1):
            keys.add(f"{state.process_id}:{step.key}:handover:{assignment}")
        if step.status == "completed":
            keys.add(f"{state.process_id}:{step.key}:completion")
    return keys


@dataclass
class Tally:
    processes: int
    started: int = 0
    completed: int = 0
    lost_starts: int = 0
    lost_steps: int = 0
    duplicate_emails: int = 0
    # of those: resent after a first copy whose sender never said QUIT (killed between the
    # message's end and the server's 250: no SMTP client can know; RFC 1047)
    duplicate_emails_in_doubt: int = 0
    missing_emails: int = 0
    read_model_mismatches: int = 0
    stuck: int = 0
    duplicate_opportunities: int = 0
    failed_calls: int = 0
    server_errors: int = 0
    # problem -> a few examples (process ids, keys) to look into
    examples: dict[str, list[str]] = field(default_factory=dict)

    PROBLEMS = (
        "lost_starts",
        "lost_steps",
        "duplicate_emails",
        "missing_emails",
        "read_model_mismatches",
        "stuck",
        "duplicate_opportunities",
        "failed_calls",
        "server_errors",
    )

    @property
    def problems(self) -> int:
        return sum(getattr(self, name) for name in self.PROBLEMS)

    def note(self, problem: str, example: str) -> None:
        setattr(self, problem, getattr(self, problem) + 1)
        found = self.examples.setdefault(problem, [])
        if len(found) < EXAMPLES:
            found.append(example)


def tally(
    processes: int,
    ledger: Ledger,
    outcomes: dict[str, Outcome],
    deliveries: Counter[str],
    opportunities_per_call: Counter[str] | None = None,
    owed: Callable[[ProcessState], set[str]] = owed_emails,
    unconfirmed: Counter[str] | None = None,
) -> Tally:
    """Count every problem of a run. `outcomes` holds every process the client started;
    `deliveries` the SMTP server's count per key (`unconfirmed`: of them, those whose sender
    never said QUIT after the 250); `opportunities_per_call` how many opportunities each
    create call made (by the title it gave them)."""
    result = Tally(processes=processes, started=len(ledger.started))
    for process_id in sorted(ledger.started):
        outcome = outcomes.get(process_id)
        state = outcome.state if outcome else None
        if state is None:
            result.note("lost_starts", process_id)
            for step_key in sorted(ledger.acknowledged.get(process_id, ())):
                result.note("lost_steps", f"{process_id} {step_key}")
            result.note("stuck", f"{process_id} (no workflow)")
            continue
        assert outcome is not None
        steps = {step.key: step.status for step in state.steps}
        for step_key in sorted(ledger.acknowledged.get(process_id, ())):
            if steps.get(step_key) != "completed":
                result.note("lost_steps", f"{process_id} {step_key}: {steps.get(step_key)}")
        if state.status == "completed":
            result.completed += 1
            for key in sorted(owed(state)):
                if deliveries[key] == 0:
                    result.note("missing_emails", key)
        else:
            result.note("stuck", f"{process_id} ({outcome.execution}, {state.status})")
        if outcome.read_model is None:
            result.note("read_model_mismatches", f"{process_id}: no read model")
        else:
            differences = outcome.read_model.differences(from_state(state))
            if differences:
                result.note("read_model_mismatches", f"{process_id}: {', '.join(differences)}")
    for key, times in sorted(deliveries.items()):
        for _ in range(times - 1):
            result.note("duplicate_emails", key)
        result.duplicate_emails_in_doubt += min(times - 1, (unconfirmed or Counter())[key])
    for title, made in sorted((opportunities_per_call or Counter()).items()):
        for _ in range(made - 1):
            result.note("duplicate_opportunities", title)
    for call, times in sorted(ledger.failed_calls.items()):
        for _ in range(times):
            result.note("failed_calls", call)
    result.server_errors = ledger.answers[500]
    return result


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


ROWS = (
    ("processes", "processes driven"),
    ("started", "started (201)"),
    ("completed", "completed"),
    ("lost_starts", "lost starts (201, no workflow)"),
    ("lost_steps", "lost steps (2xx, not completed in the end)"),
    ("duplicate_emails", "duplicate e-mails delivered by SMTP"),
    ("duplicate_emails_in_doubt", "… of them after a sender killed before the 250 reached it"),
    ("missing_emails", "e-mails owed but never delivered"),
    ("read_model_mismatches", "read-model mismatches (vs the workflow's state)"),
    ("stuck", "stuck processes (not completed)"),
    ("duplicate_opportunities", "duplicate opportunities (one Idempotency-Key, two rows)"),
    ("failed_calls", "calls given up (no answer, or a refusal)"),
    ("server_errors", "HTTP 500 answers"),
)


def markdown(columns: dict[str, Tally]) -> str:
    """The counts as a Markdown table, one column per run (e.g. per database)."""
    names = list(columns)
    lines = [
        "| | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for attribute, label in ROWS:
        values = [str(getattr(columns[name], attribute)) for name in names]
        lines.append(f"| {label} | " + " | ".join(values) + " |")
    return "\n".join(lines)
