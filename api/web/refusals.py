"""A form's way to the API: the posted inputs, and the API's refusals put beside them."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from pydantic import ValidationError
from starlette.datastructures import FormData

from api.web.i18n import N_, refusal_text
from api.web.i18n import gettext as _
from partnerflow.refusals import Refused, http_status

Loc = tuple[str | int, ...]

# Beside the input, the API's lead-in naming the step or template part is said already; which
# of a list's values is at fault ("…value (slate): …") is not, and stays.
_LEAD_IN = re.compile(
    r"^(step '[^']*'(, [^:(]+?)?( \((?P<item>[^)]*)\))?: |(subject|body_html|body_text)(: |, ))",
    re.I,
)


def _without_lead_in(message: str) -> str:
    return _LEAD_IN.sub(lambda m: f"“{m['item']}”: " if m["item"] else "", message)


# Pydantic's wording where it would puzzle a person filling in a form.
_PLAIN = {
    "missing": N_("Enter a value."),
    "string_too_short": N_("Enter a value."),
    "string_pattern_mismatch": N_(
        "Use lower-case letters, digits, '-' and '_' (start with a letter or digit; at most 64)."
    ),
    "uuid_parsing": N_("Choose one of the options."),
    "uuid_type": N_("Choose one of the options."),
    "too_short": N_("Keep at least one."),
}


async def posted_form(request: Request) -> FormData:
    """The form as posted; its inputs are read by name (rows of fields come and go)."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(posted_form)]


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def checked(form: FormData, name: str) -> bool:
    return text(form, name) != ""


@dataclass(frozen=True)
class Refusal:
    """One thing at fault: its path into the request body (without "body") and why."""

    loc: Loc
    message: str
    # The API's own messages name the step and field; pydantic's do not.
    names_itself: bool = True

    @property
    def sentence(self) -> str:
        """In the reader's language (api/web/i18n.py: a refusal's text is looked up as it
        is, then by the catalog's refusal patterns)."""
        message = _capitalised(refusal_text(self.message))
        if self.names_itself or not self.loc:
            return message
        return f"{' › '.join(str(part) for part in self.loc)}: {message}"


def status_of(error: Refused | HTTPException | ValidationError) -> int:
    """The HTTP status the API would answer for the error (a form's inputs at fault: 422)."""
    if isinstance(error, Refused):
        return http_status(error.kind)
    if isinstance(error, HTTPException):
        return error.status_code
    return 422


def refusals(error: Refused | HTTPException | ValidationError) -> list[Refusal]:
    if isinstance(error, Refused):
        return [Refusal(error.loc, _capitalised(error.message))]
    if isinstance(error, ValidationError):
        return [
            Refusal(
                tuple(item["loc"]),
                _(_PLAIN[item["type"]]) if item["type"] in _PLAIN else item["msg"],
                names_itself=False,
            )
            for item in error.errors()
        ]
    if not isinstance(error.detail, list):
        return [Refusal((), _capitalised(str(error.detail)))]
    found = []
    for item in error.detail:
        loc: Loc = tuple(item.get("loc") or ()) if isinstance(item, dict) else ()
        if loc[:1] == ("body",):
            loc = loc[1:]
        message = item.get("msg", "") if isinstance(item, dict) else str(item)
        found.append(Refusal(loc, _capitalised(str(message))))
    return found


@dataclass
class FormErrors:
    """Messages beside the inputs (by input name), and the rest above the form."""

    beside: dict[str, str]
    above: list[str]

    def __bool__(self) -> bool:
        return bool(self.beside or self.above)


def sorted_out(found: list[Refusal], input_for: Callable[[Loc], str | None]) -> FormErrors:
    """Each refusal beside the input it names; the first message per input is shown."""
    errors = FormErrors(beside={}, above=[])
    for refusal in found:
        name = input_for(refusal.loc)
        if name is None:
            errors.above.append(refusal.sentence)
        else:
            beside = refusal_text(_without_lead_in(refusal.message))
            errors.beside.setdefault(name, _capitalised(beside))
    return errors


def _capitalised(message: str) -> str:
    return message[:1].upper() + message[1:]


def context(errors: FormErrors | None) -> dict[str, Any]:
    """What the templates' `error`/`described` macros and the problem box read."""
    if errors is None:
        return {"errors": {}, "problems": []}
    return {"errors": errors.beside, "problems": errors.above}
