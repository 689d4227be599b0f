"""The process page and the Temporal UI link to each other at the addresses people use:
`PARTNERFLOW_TEMPORAL_UI_URL` for the UI (behind a proxy, under a path), and
`PARTNERFLOW_PUBLIC_URL` for Partnerflow, whose process page the workflow's details name."""

import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from tests import factories
from tests.conftest import ADMIN_TOKEN, eventually, running_stack
from tests.web import signed_in_staff
from workflows.partner_process import workflow_id_for

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
# Each runs behind a proxy of its own, under a path, with a trailing slash to be forgiven.
TEMPORAL_UI = "https://ops.example.com/temporal/"
PARTNERFLOW = "https://partners.example.com/pf/"
# What the proxy hands on to Partnerflow: the same host, the path without its prefix.
PROXIED = "https://partners.example.com"


@SQLITE
async def test_the_process_page_and_the_temporal_ui_link_to_each_other_at_their_public_urls(
    temporal_env: WorkflowEnvironment, database_url: str, engine: Engine
) -> None:
    async with running_stack(
        temporal_env, database_url, engine, temporal_ui_url=TEMPORAL_UI, public_url=PARTNERFLOW
    ) as stack:
        http, admin = stack.http, stack.admin
        template = await factories.published_template(
            http, admin,
            {"name": "Meter change", "steps": [
                {"key": "meter", "name": "Meter", "assignee": {"type": "contact"}}]},
        )  # fmt: skip
        process = await factories.started(http, admin, template["id"])
        pid = process["id"]

        # The page → the Temporal UI.
        workflow = f"https://ops.example.com/temporal/namespaces/default/workflows/process-{pid}"
        assert process["temporal_url"] == workflow
        # A browser that reaches Partnerflow through the proxy (https: its cookie is Secure).
        async with httpx.AsyncClient(transport=http._transport, base_url=PROXIED) as staff:
            await signed_in_staff(staff, ADMIN_TOKEN)
            page = (await staff.get(f"/processes/{pid}")).text
            assert f'href="{workflow}"' in page

            # The Temporal UI → the page: the workflow's details name it, at the public URL.
            description = await stack.env.client.get_workflow_handle(
                workflow_id_for(pid)
            ).describe()
            details = await description.static_details()
            assert details is not None
            links = re.findall(r"\[Open the process in Partnerflow\]\(([^)]+)\)", details)
            assert links == [f"https://partners.example.com/pf/processes/{pid}"]
            # What the proxy hands on (the path without the public prefix) is the page.
            path = urlsplit(links[0]).path.removeprefix("/pf")
            opened = await staff.get(path)
            assert opened.status_code == 200
            assert "Meter change" in opened.text and 'href="' + workflow in opened.text


@SQLITE
async def test_a_process_an_automation_started_names_the_automation_in_temporal(
    temporal_env: WorkflowEnvironment, database_url: str, engine: Engine
) -> None:
    async with running_stack(temporal_env, database_url, engine) as stack:
        http, admin = stack.http, stack.admin
        template = await factories.published_template(
            http, admin,
            {"name": "Survey", "steps": [
                {"key": "survey", "name": "Survey", "assignee": {"type": "contact"}}]},
        )  # fmt: skip
        automation = await factories.automation(http, admin, template["id"])
        opportunity = await factories.opportunity(http, admin)

        async def started() -> list[dict[str, Any]]:
            response = await http.get(
                "/api/processes", params={"opportunity_id": opportunity["id"]}, headers=admin
            )
            listed: list[dict[str, Any]] = response.json()["data"]
            return listed

        [process] = await eventually(started, lambda listed: len(listed) == 1)
        description = await stack.env.client.get_workflow_handle(
            workflow_id_for(process["id"])
        ).describe()
        assert await description.static_summary() == (f"Survey v1, opportunity {opportunity['id']}")
        details = await description.static_details()
        assert details is not None and f"- started by automation `{automation['id']}`" in details
