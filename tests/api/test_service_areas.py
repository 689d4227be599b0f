"""Partners' service areas through the API: set, shown with the partner, refused when a pattern
is no postal code, asked who serves a code; and the pool an offer goes to, decided when the
process starts (read from what entered the workflow)."""

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, text
from sqlmodel import Session, col, select

from partnerflow import service_areas
from partnerflow.db import utcnow
from partnerflow.models import Absence, Partner, ProcessOffer, ServiceArea, User
from tests import factories
from tests.api.test_offers import emails
from tests.api.web.test_builder import error_beside
from tests.conftest import ADMIN_TOKEN, Stack, eventually
from tests.web import browser, signed_in_staff
from workflows.messages import ProcessInput
from workflows.partner_process import workflow_id_for
from workflows.search_attributes import PF_PARTNERS

Headers = dict[str, str]


async def _area(stack: Stack, partner_id: str, *patterns: str, country: str = "DE") -> Any:
    response = await stack.http.put(
        f"/api/partners/{partner_id}/service-area",
        json={"postal_codes": list(patterns), "country": country},
        headers=stack.admin,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _partners(stack: Stack, *names: str) -> list[dict[str, Any]]:
    return list(
        await asyncio.gather(*(factories.partner(stack.http, stack.admin, name) for name in names))
    )


def _refused_at(response: Any) -> list[Any]:
    assert response.status_code == 422, response.text
    loc: list[Any] = response.json()["detail"][0]["loc"]
    return loc


async def test_a_service_area_is_set_shown_with_the_partner_and_replaced(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    [partner] = await _partners(stack, "Rhein Solar GmbH")
    assert partner["service_area"] == {"country": "DE", "postal_codes": []}

    area = await _area(stack, partner["id"], "50667", " 51* ", "50667", "5*", country="de")
    # duplicates count once, in the order of the codes
    assert area == {"country": "DE", "postal_codes": ["5*", "50667", "51*"]}
    shown = (await http.get(f"/api/partners/{partner['id']}", headers=admin)).json()
    assert shown["service_area"] == area
    own = factories.bearer(partner["owner_token"])  # the partner sees its own area
    response = await http.get(f"/api/partners/{partner['id']}/service-area", headers=own)
    assert response.status_code == 200
    assert response.json() == area

    # a new area replaces the old one whole; an empty one serves nothing
    await _area(stack, partner["id"], "1010", "12*", country="AT")
    response = await http.get(f"/api/partners/{partner['id']}/service-area", headers=admin)
    assert response.json() == {"country": "AT", "postal_codes": ["1010", "12*"]}
    assert await _area(stack, partner["id"]) == {"country": "DE", "postal_codes": []}

    # a member sees it; only an admin changes it
    member = factories.bearer((await factories.member(http, admin))["token"])
    listed = (await http.get("/api/partners", headers=member)).json()
    assert [p["service_area"] for p in listed["data"]] == [{"country": "DE", "postal_codes": []}]
    response = await http.put(
        f"/api/partners/{partner['id']}/service-area",
        json={"postal_codes": ["50667"]},
        headers=member,
    )
    assert response.status_code == 403
    unknown = f"/api/partners/{uuid.uuid4()}/service-area"
    assert (await http.put(unknown, json={"postal_codes": []}, headers=admin)).status_code == 404


async def test_patterns_that_are_not_postal_codes_are_refused_naming_each(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    [partner] = await _partners(stack, "Rhein Solar GmbH")
    await _area(stack, partner["id"], "50667")
    url = f"/api/partners/{partner['id']}/service-area"
    refused = {
        ("50667", "5066x"): ["body", "postal_codes", 1],  # not digits
        ("506671",): ["body", "postal_codes", 0],  # six digits
        ("5066",): ["body", "postal_codes", 0],  # four digits and no *: not a German code
        ("50667*",): ["body", "postal_codes", 0],  # a whole code is no prefix
        ("*",): ["body", "postal_codes", 0],  # every code: no area at all
        ("5*0",): ["body", "postal_codes", 0],
        ("",): ["body", "postal_codes", 0],
        ("51*", "50 667"): ["body", "postal_codes", 1],
    }
    for patterns, loc in refused.items():
        response = await http.put(url, json={"postal_codes": list(patterns)}, headers=admin)
        assert _refused_at(response) == loc, patterns
    # Austria's codes have four digits
    response = await http.put(
        url, json={"postal_codes": ["1010", "50667"], "country": "AT"}, headers=admin
    )
    assert _refused_at(response) == ["body", "postal_codes", 1]
    assert "postal code of AT (4 digits)" in response.json()["detail"][0]["msg"]
    response = await http.put(url, json={"postal_codes": ["75001"], "country": "FR"}, headers=admin)
    assert _refused_at(response) == ["body", "country"]
    too_many = [f"{n:05d}" for n in range(501)]
    response = await http.put(url, json={"postal_codes": too_many}, headers=admin)
    assert _refused_at(response) == ["body", "postal_codes"]
    # nothing refused was stored
    kept = (await http.get(url, headers=admin)).json()
    assert kept == {"country": "DE", "postal_codes": ["50667"]}


async def test_partners_are_listed_by_whom_serves_a_postal_code(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    cologne, bonn, munich, exact, revoked = await _partners(
        stack, "Köln Solar", "Bonn Dach", "München Wärme", "Altstadt Elektro", "Weg GmbH"
    )
    await asyncio.gather(
        _area(stack, cologne["id"], "50*"),
        _area(stack, bonn["id"], "53*", "51*"),
        _area(stack, munich["id"], "80331"),
        _area(stack, exact["id"], "50667"),
        _area(stack, revoked["id"], "5*"),
    )
    await http.post(f"/api/partners/{revoked['id']}/revoke", headers=admin)

    async def serving(**params: str) -> list[str]:
        response = await http.get("/api/partners", params=params, headers=admin)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["count"] == len(body["data"])
        return [p["name"] for p in body["data"]]

    assert await serving(serves="50667") == ["Altstadt Elektro", "Köln Solar", "Weg GmbH"]
    assert await serving(serves="50667", status="active") == ["Altstadt Elektro", "Köln Solar"]
    assert await serving(serves="51105") == ["Bonn Dach", "Weg GmbH"]
    assert await serving(serves="80331") == ["München Wärme"]
    assert await serving(serves="80333") == []
    assert await serving(serves="5066", country="AT") == []
    assert len(await serving()) == 5  # without `serves`, every partner as before
    for params, loc in (
        ({"serves": "5066x"}, ["query", "serves"]),
        ({"serves": "50*"}, ["query", "serves"]),
        ({"serves": "50667", "country": "XX"}, ["query", "country"]),
    ):
        response = await http.get("/api/partners", params=params, headers=admin)
        assert _refused_at(response) == loc, params


async def test_an_admin_edits_the_service_area_on_the_partners_page(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    [partner] = await _partners(stack, "Rhein Solar GmbH")
    page_url = f"/partners/{partner['id']}"
    csrf = await signed_in_staff(http, ADMIN_TOKEN)
    page = (await http.get(page_url)).text
    assert "Service area" in page and "No postal codes yet" in page

    saved = await http.post(
        f"{page_url}/service-area",
        data={"csrf": csrf, "postal_codes": "50667, 51*\n53*", "country": "DE"},
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"{page_url}?flash=area_saved"
    page = (await http.get(saved.headers["location"])).text
    assert "Service area saved." in page
    assert "<code>50667</code>, <code>51*</code>, <code>53*</code>" in page
    response = await http.get(f"/api/partners/{partner['id']}/service-area", headers=admin)
    assert response.json()["postal_codes"] == ["50667", "51*", "53*"]

    # a pattern that is no postal code: said beside the input, what was typed kept
    refused = await http.post(
        f"{page_url}/service-area",
        data={"csrf": csrf, "postal_codes": "50667\n5o*", "country": "DE"},
    )
    assert refused.status_code == 422
    assert "is neither a postal code of DE" in error_beside(refused.text, "postal_codes")
    assert "50667\n5o*</textarea>" in refused.text
    response = await http.get(f"/api/partners/{partner['id']}/service-area", headers=admin)
    assert response.json()["postal_codes"] == ["50667", "51*", "53*"]

    # a member sees the area, without the editor
    member = await factories.member(http, admin)
    async with browser(http) as colleague:
        await signed_in_staff(colleague, member["token"])
        page = (await colleague.get(page_url)).text
    assert "<code>53*</code>" in page and 'name="postal_codes"' not in page


# the pool an offer goes to ----------------------------------------------------------------------


def _pool_template(*, mode: str = "first_accept") -> dict[str, Any]:
    offer = {"type": "offer", "pool": "service_area", "mode": mode, "wait": "PT4H"}
    return {
        "name": f"Wallbox {uuid.uuid4().hex[:6]}",
        "steps": [
            {"key": "installation", "name": "Installation", "assignee": offer, "requires": []},
            {"key": "check", "name": "Check", "assignee": {"type": "contact"}, "requires": []},
        ],
    }


async def _workflow_input(stack: Stack, process_id: str) -> ProcessInput:
    """What entered the workflow: the input of its first history event."""
    handle = stack.env.client.get_workflow_handle(workflow_id_for(process_id))
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [decoded] = await stack.env.client.data_converter.decode(started.input.payloads, [ProcessInput])
    assert isinstance(decoded, ProcessInput)
    return decoded


async def test_an_opportunity_in_50667_is_offered_to_the_partner_serving_50_only(
    stack: Stack,
) -> None:
    http, admin = stack.http, stack.admin
    fifty, fifty_one, munich = await _partners(stack, "Köln Solar", "Bonn Dach", "München Wärme")
    await asyncio.gather(
        _area(stack, fifty["id"], "50*"),
        _area(stack, fifty_one["id"], "51*"),
        _area(stack, munich["id"], "80331"),
    )
    template = await factories.published_template(http, admin, _pool_template())
    process = await factories.started(http, admin, template["id"])  # the customer is in 50667

    entered = await _workflow_input(stack, process["id"])
    assert entered.offer_pools == {"installation": [uuid.UUID(fifty["id"])]}
    assert "50667" not in entered.model_dump_json()  # ids only: not even the postal code

    # the offer itself, as the read model shows it: to that partner alone
    def offered() -> list[ProcessOffer]:
        with Session(stack.engine) as session:
            statement = select(ProcessOffer).where(
                ProcessOffer.process_id == uuid.UUID(process["id"])
            )
            return list(session.exec(statement))

    async def probe() -> list[ProcessOffer]:
        return offered()

    rows = await eventually(probe, lambda rows: len(rows) > 0)
    assert [str(row.partner_id) for row in rows] == [fifty["id"]]


async def test_the_pool_is_ranked_closest_area_first_and_active_partners_only(
    stack: Stack,
) -> None:
    """A whole code before a prefix, a longer prefix before a shorter, then by name; nobody
    revoked, nobody of another country, nobody for a code that is missing or malformed."""
    http, admin = stack.http, stack.admin
    partners = await _partners(
        stack, "Zander Solar", "Adler Solar", "Mittel GmbH", "Nah Elektro", "Weg GmbH", "Wien KG"
    )
    zander, adler, middle, near, gone, vienna = partners
    await asyncio.gather(
        _area(stack, zander["id"], "50*"),
        _area(stack, adler["id"], "5*", "50*"),  # its closest pattern counts
        _area(stack, middle["id"], "506*"),
        _area(stack, near["id"], "50667", "8*"),
        _area(stack, gone["id"], "50667"),
        _area(stack, vienna["id"], "5066", country="AT"),
    )
    await http.post(f"/api/partners/{gone['id']}/revoke", headers=admin)
    template = await factories.published_template(http, admin, _pool_template(mode="ranked"))
    process = await factories.started(http, admin, template["id"])
    entered = await _workflow_input(stack, process["id"])
    expected = [uuid.UUID(p["id"]) for p in (near, middle, adler, zander)]
    assert entered.offer_pools == {"installation": expected}

    with Session(stack.engine) as session:
        assert service_areas.ranked(session, "50 667", "de") == expected
        assert service_areas.ranked(session, "5066", "AT") == [uuid.UUID(vienna["id"])]
        for code, country in ((None, None), ("", "DE"), ("5066x", "DE"), ("50667", "FR")):
            assert service_areas.ranked(session, code, country) == []


async def test_the_absences_not_over_enter_the_workflow_at_its_start(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    away, back, substitute = await asyncio.gather(
        factories.member(http, admin, "Anna Abwesend"),
        factories.member(http, admin, "Bernd Zurück"),
        factories.member(http, admin, "Sara Vertretung"),
    )
    now = utcnow()
    with Session(stack.engine) as session:
        ids = {u.name: u.id for u in session.exec(select(User))}
        current = Absence(
            user_id=ids["Anna Abwesend"],
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=6),
            substitute_user_id=ids["Sara Vertretung"],
        )
        over = Absence(
            user_id=ids["Bernd Zurück"],
            starts_at=now - timedelta(days=9),
            ends_at=now - timedelta(days=2),
            substitute_user_id=ids["Sara Vertretung"],
        )
        session.add_all([current, over])
        session.commit()
        expected = [
            (current.user_id, current.starts_at, current.ends_at, current.substitute_user_id)
        ]
    assert away["id"] and back["id"] and substitute["id"]
    template = await factories.published_template(
        http, admin, factories.two_step_template((await _partners(stack, "Solar"))[0]["id"])
    )
    process = await factories.started(http, admin, template["id"])
    entered = await _workflow_input(stack, process["id"])
    assert [
        (a.user_id, a.starts_at, a.ends_at, a.substitute_user_id) for a in entered.absences
    ] == expected
    assert entered.offer_pools == {}  # no step is offered to a pool


async def test_a_pool_partner_revoked_before_its_offer_is_offered_nothing(stack: Stack) -> None:
    """The pool is decided at the start, the offer made later: a partner revoked in between is
    found by the revocation (Temporal lists the process with it) and never asked."""
    http, admin = stack.http, stack.admin
    near, far = await _partners(stack, "Nah Solar", "Fern Solar")
    await asyncio.gather(_area(stack, near["id"], "50667"), _area(stack, far["id"], "5*"))
    template = await factories.published_template(http, admin, _commissioned_pool())
    process = await factories.started(http, admin, template["id"])
    handle = stack.env.client.get_workflow_handle(workflow_id_for(process["id"]))
    listed = (await handle.describe()).typed_search_attributes.get(PF_PARTNERS)
    assert listed is not None and {near["id"], far["id"]} <= set(listed)

    revoked = await http.post(f"/api/partners/{near['id']}/revoke", headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["handed_back"] == [process["id"]]
    done = await http.post(
        f"/api/processes/{process['id']}/steps/commission/complete", json={}, headers=admin
    )
    assert done.status_code == 200, done.text

    # The installation is offered to the far partner only, and only it is e-mailed.
    def offered() -> list[tuple[str, str]]:
        with Session(stack.engine) as session:
            rows = session.exec(
                select(ProcessOffer).where(ProcessOffer.process_id == uuid.UUID(process["id"]))
            )
            return [(str(row.partner_id), row.status) for row in rows]

    async def probe() -> list[tuple[str, str]]:
        return offered()

    assert await eventually(probe, bool) == [(far["id"], "pending")]
    sent = await emails(stack, process["id"], "offer", 1)
    assert [far["email"] in e["to"] and near["email"] not in e["to"] for e in sent] == [True]


def _commissioned_pool() -> dict[str, Any]:
    """The contact person commissions; then the installation is offered to the pool, ranked."""
    offer = {"type": "offer", "pool": "service_area", "mode": "ranked", "wait": "PT4H"}
    return {
        "name": f"Pool {uuid.uuid4().hex[:6]}",
        "steps": [
            {"key": "commission", "name": "Commission", "assignee": {"type": "contact"}},
            {
                "key": "installation",
                "name": "Installation",
                "assignee": offer,
                "requires": ["commission"],
            },
        ],
    }


async def test_the_pool_takes_the_hundred_best_fits_and_codes_are_read_without_blanks(
    stack: Stack,
) -> None:
    http, admin = stack.http, stack.admin
    with Session(stack.engine) as session:
        # 101 partners serve 50667 by the prefix 5*, one of them by the whole code
        made = [
            Partner(name=f"Solar {n:03d}", email=f"s{n}@x.example", status="active")
            for n in range(101)
        ]
        session.add_all(made)
        session.flush()
        session.add_all(ServiceArea(partner_id=p.id, pattern="5*") for p in made)
        session.add(ServiceArea(partner_id=made[-1].id, pattern="50667"))
        session.commit()
        pool = service_areas.ranked(session, "50 667", "DE")
        ids = [p.id for p in made]
    assert len(pool) == service_areas.MAX_POOL == 100
    # the closest first, then by name; the last by name is left out
    assert pool == [ids[-1], *ids[:99]]

    # `?serves=` reads a code as the pool does: "50 667" is 50667
    spaced = await http.get("/api/partners", params={"serves": " 50 667 "}, headers=admin)
    plain = await http.get("/api/partners", params={"serves": "50667"}, headers=admin)
    assert spaced.status_code == plain.status_code == 200, spaced.text
    assert spaced.json()["count"] == plain.json()["count"] == 101


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_replacements_at_once_end_as_one_of_them_not_both(stack: Stack) -> None:
    """While one replacement holds the partner (deleted the old area, inserted its own, not yet
    committed), another waits for it and then replaces that whole: the area is the second's,
    not the two together."""
    [partner] = await _partners(stack, "Rhein Solar GmbH")
    await _area(stack, partner["id"], "80331")
    with Session(stack.engine) as first:
        first.exec(select(Partner).where(Partner.id == uuid.UUID(partner["id"])).with_for_update())
        first.execute(
            delete(ServiceArea).where(col(ServiceArea.partner_id) == uuid.UUID(partner["id"]))
        )
        first.add(ServiceArea(partner_id=uuid.UUID(partner["id"]), pattern="50667"))
        first.flush()
        second = asyncio.create_task(
            stack.http.put(
                f"/api/partners/{partner['id']}/service-area",
                json={"postal_codes": ["51*"]},
                headers=stack.admin,
            )
        )

        async def waiting() -> int:
            with stack.engine.connect() as connection:
                return connection.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                ).scalar_one()

        assert await eventually(waiting, lambda n: n > 0) > 0
        first.commit()
    assert (await second).status_code == 200
    shown = await stack.http.get(f"/api/partners/{partner['id']}/service-area", headers=stack.admin)
    assert shown.json()["postal_codes"] == ["51*"]
