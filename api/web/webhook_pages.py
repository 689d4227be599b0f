"""The webhooks page (admins): each subscription, whether it is on, and its recent deliveries
with their status, attempts, the receiver's last answer and how long it took."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.deps import SessionDep
from api.web.session import WebStaff
from api.web.templating import page
from partnerflow import webhooks
from partnerflow.refusals import forbidden

router = APIRouter(include_in_schema=False)

RECENT = 10


@router.get("/webhooks")
def webhooks_page(request: Request, session: SessionDep, caller: WebStaff) -> HTMLResponse:
    if not caller.is_admin:
        raise forbidden("only an admin sees the webhooks")
    subscriptions = session.exec(webhooks.listed()).all()
    recent = {
        subscription.id: webhooks.with_attempts(
            session, session.exec(webhooks.deliveries(session, subscription.id).limit(RECENT)).all()
        )
        for subscription in subscriptions
    }
    return page(
        request, "webhooks.html",
        caller=caller, section="webhooks", subscriptions=subscriptions, recent=recent,
    )  # fmt: skip
