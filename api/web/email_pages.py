"""The e-mail templates' pages: the list, the editor beside its live preview, the preview.

Saving goes through the e-mail template services (partnerflow/email_templates.py), as the
JSON API's does; the preview renders in the same
sandbox as a sent e-mail, with made-up data, under the same budget of time and memory.
"""

import uuid
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import TemplateSyntaxError
from pydantic import ValidationError
from sqlmodel import Session
from starlette.datastructures import FormData

from api.deps import Pagination, SessionDep, SettingsDep
from api.listing import fetch_page
from api.web.i18n import N_, refusal_text
from api.web.i18n import gettext as _
from api.web.refusals import (
    FormErrors,
    Loc,
    PostedForm,
    Refusal,
    context,
    refusals,
    sorted_out,
    status_of,
    text,
)
from api.web.session import CsrfChecked, WebStaff
from api.web.templating import page
from api.web.views import flashed
from partnerflow import email_templates
from partnerflow.callers import Caller
from partnerflow.default_emails import sample_context
from partnerflow.email_templates import EmailTemplateCreate, EmailTemplatePublic
from partnerflow.emails import TEMPLATE_VARIABLES, TemplateProblem, check_template, render
from partnerflow.refusals import Refused, not_found
from partnerflow.render_pool import RenderUnavailable

router = APIRouter(include_in_schema=False)

FLASHES = {"created": N_("E-mail template created."), "saved": N_("E-mail template saved.")}
INPUTS = ("name", "language", "subject", "body_html", "body_text")


@router.get("/emails")
def email_list(
    request: Request, session: SessionDep, caller: WebStaff, flash: str | None = None
) -> HTMLResponse:
    found, count = fetch_page(session, email_templates.listed(), Pagination(limit=500, offset=0))
    return page(
        request,
        "email_list.html",
        caller=caller,
        section="emails",
        flash=flashed(FLASHES, flash),
        rows=[email_templates.public(t) for t in found],
        more=count - len(found),
    )


@router.get("/emails/new")
def new_form(request: Request, settings: SettingsDep, caller: WebStaff) -> HTMLResponse:
    values = {"name": "", "language": "de", "subject": "", "body_html": "", "body_text": ""}
    return _editor(request, caller, settings.public_url, None, values)


@router.post("/emails/new", dependencies=[CsrfChecked])
def create(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    caller: WebStaff,
    posted: PostedForm,
) -> Response:
    values = _posted(posted)
    try:
        body = EmailTemplateCreate.model_validate(_body(values))
        created = email_templates.create(session, body)
    except (Refused, ValidationError, TemplateSyntaxError) as error:
        errors = sorted_out(_refusals(error, values), _input_for)
        code = _status_of(error)
        return _editor(request, caller, settings.public_url, None, values, errors, code)
    return RedirectResponse(f"/emails/{created.id}?flash=created", status_code=303)


@router.post("/emails/preview", dependencies=[CsrfChecked])
def preview(settings: SettingsDep, _: WebStaff, posted: PostedForm) -> JSONResponse:
    """The posted template rendered with sample data, or 422 naming the part and line."""
    rendered = _rendered(_posted(posted), settings.public_url)
    if isinstance(rendered, str):
        return JSONResponse({"detail": rendered}, status.HTTP_422_UNPROCESSABLE_CONTENT)
    return JSONResponse(rendered)


@router.get("/emails/{template_id}")
def editor(
    request: Request,
    template_id: str,
    session: SessionDep,
    settings: SettingsDep,
    caller: WebStaff,
    flash: str | None = None,
) -> HTMLResponse:
    template = _template_of(session, template_id)
    values = {name: getattr(template, name) or "" for name in INPUTS}
    return _editor(
        request, caller, settings.public_url, template, values, flash=flashed(FLASHES, flash)
    )


@router.post("/emails/{template_id}", dependencies=[CsrfChecked])
def save(
    request: Request,
    template_id: str,
    session: SessionDep,
    settings: SettingsDep,
    caller: WebStaff,
    posted: PostedForm,
) -> Response:
    template = _template_of(session, template_id)
    values = _posted(posted)
    try:
        body = EmailTemplateCreate.model_validate(_body(values))
        email_templates.update(session, template.id, body)
    except (Refused, ValidationError, TemplateSyntaxError) as error:
        errors = sorted_out(_refusals(error, values), _input_for)
        code = _status_of(error)
        return _editor(request, caller, settings.public_url, template, values, errors, code)
    return RedirectResponse(f"/emails/{template.id}?flash=saved", status_code=303)


def _template_of(session: Session, template_id: str) -> EmailTemplatePublic:
    try:
        key = uuid.UUID(template_id)
    except ValueError:
        raise not_found("e-mail template") from None
    return email_templates.get(session, key)


def _posted(posted: FormData) -> dict[str, str]:
    return {name: text(posted, name) for name in INPUTS}


def _body(values: dict[str, str]) -> dict[str, Any]:
    return {
        "name": values["name"].strip(),
        "language": values["language"],
        "subject": values["subject"],
        "body_html": values["body_html"],
        "body_text": values["body_text"] if values["body_text"].strip() else None,
    }


def _status_of(error: Refused | ValidationError | TemplateSyntaxError) -> int:
    if isinstance(error, TemplateSyntaxError):
        return status.HTTP_422_UNPROCESSABLE_CONTENT
    return status_of(error)


def _refusals(
    error: Refused | ValidationError | TemplateSyntaxError, values: dict[str, str]
) -> list[Refusal]:
    if not isinstance(error, TemplateSyntaxError):
        return refusals(error)
    # The save check lets an unknown filter or test through as this error: name the part.
    part = _part_at_fault(values)
    said = _("line %(line)s: %(problem)s") % {"line": error.lineno, "problem": error.message}
    return [Refusal((part,), said)]


def _part_at_fault(values: dict[str, str]) -> str:
    """Which of subject, HTML body and plain text does not compile."""
    for part in ("subject", "body_html", "body_text"):
        alone = {"subject": "", "body_html": "", "body_text": None, part: values[part]}
        try:
            check_template(alone["subject"] or "", alone["body_html"] or "", alone["body_text"])
        except (TemplateSyntaxError, TemplateProblem):
            return part
    return "body_html"


def _input_for(loc: Loc) -> str | None:
    return str(loc[0]) if loc[:1] and loc[0] in INPUTS else None


def _rendered(values: dict[str, str], public_url: str) -> dict[str, str] | str:
    """The three parts rendered with sample data, or what is wrong as one sentence."""
    body_text = values["body_text"] if values["body_text"].strip() else None
    language = values["language"] if values["language"] in ("de", "en") else "de"
    try:
        check_template(values["subject"], values["body_html"], body_text)
        rendered = render(
            values["subject"],
            values["body_html"],
            body_text,
            sample_context(public_url),
            language=language,
        )
    except TemplateProblem as problem:
        return refusal_text(str(problem))
    except TemplateSyntaxError as error:
        return _("%(part)s, line %(line)s: %(problem)s") % {
            "part": _part_at_fault(values),
            "line": error.lineno,
            "problem": error.message,
        }
    except RenderUnavailable:
        raise  # not the template's fault: answered 503, try again
    except Exception as error:
        # A person's template can fail in many ways (an unknown filter, 1/0, a date that is
        # not one); each is theirs to fix, none is the server's fault.
        line = getattr(error, "lineno", None)
        if line:
            said = _("the template cannot be rendered: line %(line)s: %(problem)s")
            return said % {"line": line, "problem": error}
        return _("the template cannot be rendered: %(problem)s") % {"problem": error}
    return {"subject": rendered.subject, "html": rendered.html, "text": rendered.text}


def _editor(
    request: Request,
    caller: Caller,
    public_url: str,
    template: EmailTemplatePublic | None,
    values: dict[str, str],
    errors: FormErrors | None = None,
    status_code: int = 200,
    flash: str | None = None,
) -> HTMLResponse:
    # Without scripts the preview is still there: rendered once, with the page.
    shown = _rendered(values, public_url) if values["body_html"] else None
    return page(
        request,
        "email_editor.html",
        status_code,
        caller=caller,
        section="emails",
        flash=flash,
        template=template,
        values=values,
        variables={name: _(meaning) for name, meaning in TEMPLATE_VARIABLES.items()},
        preview=shown if isinstance(shown, dict) else None,
        preview_problem=shown if isinstance(shown, str) else None,
        **context(errors),
    )
