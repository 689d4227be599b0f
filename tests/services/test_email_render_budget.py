"""Issue 15, item 4: no e-mail template can make Partnerflow burn memory or CPU.

Five attacks: a 200 MB `ljust`, a 2e8 `center`, a `%200000000s` format, `lipsum(200000)`
and three nested loops of 1000. Written as literals they are refused when saved (422 naming
the part); built from variables (or written into the table by hand, past the save check)
they are stopped when rendered, in the preview and when the worker sends, within the render
budget, in a child process: the API's and the worker's memory never holds the 200 MB.
"""

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from partnerflow.default_emails import sample_context
from partnerflow.emails import TemplateProblem, check_template, render
from partnerflow.models import EmailTemplate
from tests import factories
from tests.conftest import ADMIN_TOKEN, Stack, eventually
from tests.web import signed_in_staff

# The budget is the render child's, whatever the database: the API and worker paths these
# tests drive run on PostgreSQL in their own tests. Each attack burns up to a second of CPU
# in a child; running them twice cost half a minute of the suite.
pytestmark = pytest.mark.sqlite_only

LOOP = "{% for a in R %}{% for b in R %}{% for c in R %}{% endfor %}{% endfor %}{% endfor %}"

# As written by someone who means harm: each is seen when saved.
WRITTEN = {
    "ljust": '{{ "a".ljust(200000000) }}',
    "center": '{{ "a"|center(2e8) }}',
    "format": '{{ "%200000000s"|format("x") }}',
    "lipsum": "{{ lipsum(200000) }}",
    "loops": LOOP.replace("R", "range(1000)"),
}
# The same, with the numbers in variables: the save check cannot see them.
BUILT = {
    "ljust": '{% set n = 200000000 %}{{ "a".ljust(n) }}',
    "center": '{% set w = 2e8 | int %}{{ "a"|center(w) }}',
    "format": '{% set f = "%" ~ 200000000 ~ "s" %}{{ f|format("x") }}',
    "loops": "{% set n = 1000 %}" + LOOP.replace("R", "range(n)"),
}
# More than any e-mail needs, far less than one attack would put in memory.
MEMORY_SEEN = 40 * 1024 * 1024
# Should a render run on without end (as it did before the budget), the test fails instead of
# hanging; the budget itself is seconds.
NO_END = 120.0


def _resident(field: str) -> int:
    """This process's resident memory in bytes: `VmRSS` (now) or `VmHWM` (its peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/self/status")


@contextmanager
def allocations() -> Iterator[list[int]]:
    """The most memory this process (API, worker and test alike) held at once in the block,
    above what it held at its start: its peak resident memory, the peak first reset to now.
    (tracemalloc would count Python's allocations alone, and it made every allocation of the
    in-process API and worker several times slower.) An attack's output of 100 MB or more is
    one allocation, mapped fresh from the system and written through: all of it resident."""
    peak = [0]
    Path("/proc/self/clear_refs").write_text("5")  # the kernel's reset of VmHWM to VmRSS
    start = _resident("VmRSS")
    try:
        yield peak
    finally:
        peak[0] = _resident("VmHWM") - start


def rendered_or_refused(source: str) -> Any:
    """render() of the source with sample data: the e-mail, or the TemplateProblem raised."""
    pool = ThreadPoolExecutor(1)
    future = pool.submit(render, "Subject", source, None, sample_context("http://x.test"))
    pool.shutdown(wait=False)
    try:
        return future.result(timeout=NO_END)
    except TemplateProblem as problem:
        return problem


@pytest.mark.parametrize("attack", WRITTEN)
def test_an_attack_written_out_is_refused_when_saved_without_being_run(attack: str) -> None:
    with allocations() as peak, pytest.raises(TemplateProblem) as refused:
        check_template("Subject", f"<p>{WRITTEN[attack]}</p>", None)
    assert refused.value.part == "body_html"
    assert refused.value.line == 1
    assert peak[0] < MEMORY_SEEN


def test_checking_a_template_never_computes_it() -> None:
    # Jinja computes constant output while compiling: checking this built the string.
    with allocations() as peak:
        check_template("Subject", '<p>{{ ("%" ~ "200000000s") % "x" }}</p>', None)
    assert peak[0] < MEMORY_SEEN


@pytest.mark.parametrize("attack", BUILT)
def test_an_attack_built_from_variables_is_stopped_when_rendered(attack: str) -> None:
    check_template("Subject", BUILT[attack], None)  # it gets past the save check
    with allocations() as peak:
        outcome = rendered_or_refused(BUILT[attack])
    assert isinstance(outcome, TemplateProblem), outcome
    assert peak[0] < MEMORY_SEEN  # the 200 MB were never in this process
    assert outcome.part == "body_html"
    said = "takes longer than" if attack == "loops" else "more memory than an e-mail may use"
    assert said in str(outcome)
    # The next e-mail renders as ever.
    email = render("Hallo {{ customer.name }}", "<p>ok</p>", None, sample_context("http://x"))
    assert email.subject == "Hallo Jana Becker"


def test_renders_run_in_children_whose_memory_is_capped() -> None:
    from partnerflow.email_budget import RENDER_MEMORY_BYTES
    from partnerflow.render_pool import POOL

    render("Hallo {{ customer.name }}", "<p>ok</p>", None, sample_context("http://x.test"))
    children = POOL.child_pids()
    assert children
    for pid in children:
        limits = Path(f"/proc/{pid}/limits").read_text()
        line = next(line for line in limits.splitlines() if line.startswith("Max address space"))
        soft = line.split()[3]
        assert soft != "unlimited"
        # the cap is what the child needs to run plus the render's allowance, not more
        assert int(soft) < RENDER_MEMORY_BYTES + 512 * 1024 * 1024


def test_render_children_hold_no_secrets_of_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from partnerflow.render_pool import RenderPool

    monkeypatch.setenv("PARTNERFLOW_SENDGRID_API_KEY", "SG.not-for-templates")
    pool = RenderPool(size=1)
    try:
        job: dict[str, Any] = {"subject": "S", "body_html": "<p>ok</p>", "body_text": None}
        answer = pool.run({**job, "context": {}, "language": "de", "timezone": "UTC"})
        assert answer["email"]["subject"] == "S"
        (pid,) = pool.child_pids()
        environment = Path(f"/proc/{pid}/environ").read_bytes()
    finally:
        pool.close()
    assert b"SG.not-for-templates" not in environment
    assert b"PARTNERFLOW_" not in environment


async def _saved(stack: Stack, body_html: str, expect: int = 201) -> dict[str, Any]:
    response = await stack.http.post(
        "/api/email-templates",
        json={"name": f"T {uuid.uuid4().hex[:6]}", "subject": "S", "body_html": body_html},
        headers=stack.admin,
    )
    assert response.status_code == expect, response.text
    body: dict[str, Any] = response.json()
    return body


def _written_by_hand(stack: Stack, body_html: str) -> str:
    """A row the save check never saw (written before it existed, or into the table)."""
    with Session(stack.engine) as session:
        row = EmailTemplate(name="old", subject="S", body_html=body_html)
        session.add(row)
        session.commit()
        return str(row.id)


async def test_attacks_are_refused_at_save_naming_the_field(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    existing = await _saved(stack, "<p>Hallo {{ partner.name }}</p>")
    csrf = await signed_in_staff(http, ADMIN_TOKEN)
    for attack, source in WRITTEN.items():
        refused = await _saved(stack, source, expect=422)
        assert refused["detail"][0]["loc"] == ["body", "body_html"], attack
        updated = await http.put(
            f"/api/email-templates/{existing['id']}",
            json={"name": "x", "subject": "S", "body_html": source},
            headers=admin,
        )
        assert updated.status_code == 422, attack
        assert updated.json()["detail"][0]["loc"] == ["body", "body_html"], attack
        form = {"csrf": csrf, "name": "x", "language": "de", "subject": "S", "body_html": source}
        page = await http.post("/emails/new", data=form)
        assert page.status_code == 422, attack
        preview = await http.post("/emails/preview", data=form)
        assert preview.status_code == 422, attack
        assert preview.json()["detail"].startswith("body_html, line 1:"), attack
    listed = (await http.get("/api/email-templates", headers=admin)).json()
    assert listed["count"] == 1


async def test_the_preview_stops_what_gets_past_the_save_check(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    csrf = await signed_in_staff(http, ADMIN_TOKEN)
    saved = [(await _saved(stack, source))["id"] for source in BUILT.values()]
    by_hand = [_written_by_hand(stack, source) for source in WRITTEN.values()]
    with allocations() as peak:
        for template_id in saved + by_hand:
            response = await http.post(f"/api/email-templates/{template_id}/preview", headers=admin)
            assert response.status_code == 422, response.text
            assert response.json()["detail"][0]["loc"] == ["body", "body_html"]
        for source in BUILT.values():
            form = {"csrf": csrf, "subject": "S", "body_html": source, "language": "de"}
            live = await http.post("/emails/preview", data=form)
            assert live.status_code == 422, live.text
            assert live.json()["detail"].startswith("body_html")
        # the editor of a saved template still opens, the problem beside the preview
        page = await http.get(f"/emails/{saved[-1]}")
        assert page.status_code == 200
        assert "takes longer than" in page.text
    assert peak[0] < MEMORY_SEEN


async def test_sending_stops_what_gets_past_the_save_check(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    attacks = [_written_by_hand(stack, source) for source in WRITTEN.values()]
    attacks.append((await _saved(stack, BUILT["loops"]))["id"])
    with allocations() as peak:
        processes = [
            await factories.commissioned(http, admin, partner["id"], email_template_id)
            for email_template_id in attacks
        ]

        async def details() -> list[dict[str, Any]]:
            return [
                (await http.get(f"/api/processes/{p['id']}", headers=admin)).json()
                for p in processes
            ]

        def events(detail: dict[str, Any]) -> list[str]:
            return [entry["event"] for entry in detail["timeline"]]

        done = await eventually(
            details, lambda found: all("handover_failed" in events(d) for d in found), wait=NO_END
        )
    for detail in done:
        # The e-mail failed for good (not retried), and the process goes on.
        assert "handover_failed" in events(detail)
        assert detail["status"] == "running"
        assert [s["status"] for s in detail["steps"]] == ["completed", "active"]
        sent = await http.get(
            "/api/outbox", params={"process_id": detail["id"], "kind": "handover"}, headers=admin
        )
        assert sent.json()["count"] == 0
    assert peak[0] < MEMORY_SEEN  # the worker (in this process) never held an attack's output
