"""Templates are checked when saved: e-mail templates in the sandbox, process templates' steps."""

from typing import Any

import pytest

from partnerflow.default_emails import sample_context
from partnerflow.emails import TemplateProblem, render
from tests import factories
from tests.conftest import Stack

# What is checked here is the template's text (the sandbox, the steps' shape), before anything
# is stored; saving a template runs on PostgreSQL in tests/api/test_process_templates.py.
pytestmark = pytest.mark.sqlite_only


async def _email(stack: Stack, **overrides: Any) -> Any:
    body = {
        "name": "t",
        "subject": "Auftrag {{ step.name }}",
        "body_html": "<p>ok</p>",
        **overrides,
    }
    return await stack.http.post("/api/email-templates", json=body, headers=stack.admin)


async def test_email_template_syntax_error_names_the_line(stack: Stack) -> None:
    response = await _email(stack, body_html="<p>a</p>\n<p>{{ customer.name </p>")
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "body_html"]
    assert "line 2" in error["msg"]


async def test_email_template_unknown_variable_is_named(stack: Stack) -> None:
    response = await _email(stack, subject="Hallo {{ kunde.name }}")
    assert response.status_code == 422
    assert "unknown variable 'kunde'" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("<p>\n{{ partner.name | shout }}", "No filter named 'shout'"),
        ("{% if customer is shouting %}{% endif %}", "No test named 'shouting'"),
    ],
)
async def test_email_template_unknown_filter_or_test_is_named(
    stack: Stack, source: str, message: str
) -> None:
    # Found when the template is compiled, not parsed: it was a 500.
    response = await _email(stack, body_html=source)
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "body_html"]
    assert message in error["msg"]


@pytest.mark.parametrize(
    "source",
    [
        "{{ customer.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ customer._private }}",
    ],
)
async def test_email_template_reaching_for_internals_is_refused(stack: Stack, source: str) -> None:
    response = await _email(stack, body_html=source)
    assert response.status_code == 422
    assert "not allowed" in response.json()["detail"][0]["msg"]


async def test_valid_email_template_is_saved_and_listed(stack: Stack) -> None:
    created = await factories.created(await _email(stack))
    listed = (await stack.http.get("/api/email-templates", headers=stack.admin)).json()
    assert [t["id"] for t in listed["data"]] == [created["id"]]
    assert listed["count"] == 1


def _steps(partner_id: str) -> list[dict[str, Any]]:
    return factories.two_step_template(partner_id)["steps"]


@pytest.mark.parametrize(
    ("mutate", "loc", "message"),
    [
        (
            lambda s: s[1].update(key="commission_partner"),
            ["steps", 1, "key"],
            "duplicate step key",
        ),
        (lambda s: s[1].update(requires=["nope"]), ["steps", 1, "requires"], "unknown step 'nope'"),
        (
            lambda s: s[0].update(requires=["installation"]),
            ["steps", 0, "requires"],
            "cycle",
        ),
        (
            lambda s: s[1].update(
                assignee={"type": "partner", "partner_id": "6a1f1a64-0000-4000-8000-000000000000"}
            ),
            ["steps", 1, "assignee", "partner_id"],
            "unknown partner",
        ),
        (
            lambda s: s[1].update(on_activate_email="6a1f1a64-0000-4000-8000-000000000000"),
            ["steps", 1, "on_activate_email"],
            "unknown e-mail template",
        ),
        (
            lambda s: s[1]["fields"].append({"key": "kind", "label": "Kind", "type": "choice"}),
            ["steps", 1, "fields", 1, "options"],
            "a choice needs options",
        ),
    ],
)
async def test_process_template_refusals_name_step_and_field(
    stack: Stack, mutate: Any, loc: list[Any], message: str
) -> None:
    partner = await factories.partner(stack.http, stack.admin)
    steps = _steps(partner["id"])
    mutate(steps)
    response = await stack.http.post(
        "/api/process-templates", json={"name": "PV", "steps": steps}, headers=stack.admin
    )
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", *loc]
    assert message in error["msg"]
    assert "step '" in error["msg"]


async def test_publishing_freezes_numbered_versions(stack: Stack) -> None:
    partner = await factories.partner(stack.http, stack.admin)
    template = await factories.published_template(
        stack.http, stack.admin, factories.two_step_template(partner["id"])
    )
    assert template["status"] == "published"
    assert template["published_version"] == 1
    assert template["draft_pending"] is False
    versions = await stack.http.get(
        f"/api/process-templates/{template['id']}/versions", headers=stack.admin
    )
    assert [v["version"] for v in versions.json()["data"]] == [1]


async def test_email_template_update_preview_and_delete(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    template = await factories.created(await _email(stack))
    edited = {**template, "subject": "Termin bei {{ customer.name }} am {{ step.due_at | date }}"}
    response = await http.put(f"/api/email-templates/{template['id']}", json=edited, headers=admin)
    assert response.status_code == 200, response.text
    broken = {**template, "body_html": "{% if %}"}
    response = await http.put(f"/api/email-templates/{template['id']}", json=broken, headers=admin)
    assert response.status_code == 422
    preview = await http.post(f"/api/email-templates/{template['id']}/preview", headers=admin)
    assert preview.status_code == 200, preview.text
    assert preview.json()["subject"] == "Termin bei Jana Becker am Freitag, 11. Dezember 2026"
    assert preview.json()["text"] == "ok\n"

    # With a real process: its customer and its partner step.
    partner = await factories.partner(http, admin)
    process_template = await factories.published_template(
        http, admin, factories.two_step_template(partner["id"], template["id"])
    )
    opportunity = await factories.opportunity(http, admin)
    process = await factories.created(
        await http.post(
            "/api/processes",
            json={"template_id": process_template["id"], "opportunity_id": opportunity["id"]},
            headers=admin,
        )
    )
    preview = await http.post(
        f"/api/email-templates/{template['id']}/preview",
        json={"process_id": process["id"]},
        headers=admin,
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["subject"] == "Termin bei Jana Becker am"  # no deadline yet

    # In use by a process template: it cannot be deleted.
    response = await http.delete(f"/api/email-templates/{template['id']}", headers=admin)
    assert response.status_code == 409
    assert process_template["name"] in response.json()["detail"]
    unused = await factories.created(await _email(stack))
    assert (
        await http.delete(f"/api/email-templates/{unused['id']}", headers=admin)
    ).status_code == 204
    assert (
        await http.get(f"/api/email-templates/{unused['id']}", headers=admin)
    ).status_code == 404


@pytest.mark.parametrize("source", ["{{ 1 / 0 }}", "{{ partner.name + 1 }}", '{{ "x" | date }}'])
def test_a_template_failing_as_it_renders_is_a_template_problem(source: str) -> None:
    # Not an exception the e-mail activity would retry for ever: a problem it reports.
    with pytest.raises(TemplateProblem, match="cannot be rendered"):
        render("Subject", source, None, sample_context("http://partnerflow.test"))


@pytest.mark.parametrize(
    "source",
    [
        '{{ "a" * 10000000000 }}',
        "{{ 2 ** 100000000 }}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        '{% for i in range(1000) %}{{ "x" * 9999 }}{% endfor %}',
    ],
)
def test_a_template_cannot_make_the_machine_work_without_end(source: str) -> None:
    # Staff write templates, the worker renders them: bounded, refused, never run on.
    with pytest.raises(TemplateProblem):
        render("Subject", source, None, sample_context("http://partnerflow.test"))
