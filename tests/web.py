"""Signing a test's HTTP client in to the web UI, the way a browser would."""

import re

import httpx

from partnerflow.sign_in import csrf_token


async def signed_in_staff(http: httpx.AsyncClient, api_token: str) -> str:
    """Sign the client in with a staff token; answers the form token its POSTs must carry."""
    response = await http.post("/sign-in", data={"token": api_token, "next": "/processes"})
    assert response.status_code == 303, response.text
    return csrf_token(http.cookies["pf_session"])


def link_in(text: str, pattern: str = r"/portal/sign-in/[A-Za-z0-9_-]+") -> str:
    match = re.search(pattern, text)
    assert match, text
    return match.group(0)


async def signed_in_partner(http: httpx.AsyncClient, admin: dict[str, str], email: str) -> str:
    """Ask for a sign-in link for the partner user's address and follow it from the outbox."""
    response = await http.post("/portal/sign-in", data={"email": email, "next": "/portal"})
    assert response.status_code == 200, response.text
    sent = (
        await http.get("/api/outbox", params={"kind": "magic_link", "to": email}, headers=admin)
    ).json()["data"]
    response = await http.post(link_in(sent[0]["text"]))
    assert response.status_code == 303, response.text
    return csrf_token(http.cookies["pf_session"])


def browser(http: httpx.AsyncClient) -> httpx.AsyncClient:
    """A second browser on the same app: its own cookies, so staff and partner don't mix."""
    return httpx.AsyncClient(transport=http._transport, base_url=http.base_url)


def browser_at(http: httpx.AsyncClient, address: str) -> httpx.AsyncClient:
    """A browser on another machine: its own cookies and its own client address (the public
    pages' rate limit counts per address). A server error comes back as the 500 a person
    would see, not as an exception in the test."""
    app = http._transport.app  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=http.base_url)
