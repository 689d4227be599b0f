"""The pages' language: which one a request reads (the user's setting, else the browser's
`Accept-Language`, else the company's), and the gettext catalogs its texts are translated with.

English is the source language: the texts in templates and code are the msgids, and English
needs no catalog. Each language's catalogs are the `.po` files in `locale/<lang>/LC_MESSAGES/`
(one per part of the UI, so two people can translate at once), read when the app starts and
merged into one `Translations` per language; nothing is compiled or committed as `.mo`.

The language of the request being answered is held in a context variable that the
`PageLanguage` middleware sets (from the browser and the settings) and that signing in the
caller narrows to the user's own setting (`choose_user_language`). Templates and page code
both translate through `gettext`/`ngettext` here, which read it; outside a request (the
worker, a unit test) texts stay English.
"""

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Final, get_args
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations
from jinja2 import Environment
from starlette.types import ASGIApp, Receive, Scope, Send

from partnerflow import wording
from partnerflow.spec import Language

LOCALE_DIR: Final = Path(__file__).parent / "locale"
LANGUAGES: Final[tuple[Language, ...]] = get_args(Language)
SOURCE_LANGUAGE: Final[Language] = "en"
# Messages shown on pages whose wording carries values (a refusal naming a field): their
# catalog entries have this context and `%(name)s` where a value goes, and are matched.
REFUSAL_CONTEXT: Final = "refusal"
# A word such a message fills in that is ours, not the user's ("number" in "… is not a
# number"): translated when the catalog has it in this context, else shown as it is.
REFUSAL_VALUE_CONTEXT: Final = "refusal value"


def N_(message: str) -> str:
    """Marks a text for the catalogs where it is written, translated where it is shown
    (`gettext(FLASHES[key])`): a module's constants are made before any request."""
    return message


# Reading a request's language --------------------------------------------------------------

# "de-DE;q=0.9": a language range and its quality; anything else in the header is skipped.
_RANGE = re.compile(
    r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]{1,5}))?\s*$"
)


def from_accept_language(header: str | None) -> Language | None:
    """The language we have that the browser prefers most (RFC 9110 quality values), or None
    when it names none of ours; a header that makes no sense names none."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header[:1000].split(",")[:50]):
        match = _RANGE.match(part)
        if match is None:
            continue
        try:
            quality = float(match[2]) if match[2] is not None else 1.0
        except ValueError:
            continue
        if not 0 < quality <= 1:  # q=0 says "not this one"
            continue
        ranked.append((-quality, position, match[1].split("-")[0].lower()))
    for _, _, primary in sorted(ranked):
        for language in LANGUAGES:
            if primary == language:
                return language
    return None


@dataclass
class _Reading:
    """The language of the request being answered; the caller's own setting replaces the
    browser's once the caller is known."""

    language: Language


_current: ContextVar[_Reading | None] = ContextVar("page_language", default=None)


class PageLanguage:
    """ASGI middleware: each page's request starts in its browser's language, else the
    default."""

    def __init__(
        self, app: ASGIApp, default: Callable[[Scope], Language], pages: Callable[[str], bool]
    ) -> None:
        self.app = app
        # a function of the app's settings, read per request (tests swap the settings)
        self.default = default
        # whether a path is a page: the API answers in English, whatever the client asks
        self.pages = pages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.pages(scope["path"]):
            await self.app(scope, receive, send)
            return
        header = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"accept-language"), None
        )
        with reading(from_accept_language(header) or self.default(scope)):
            await self.app(scope, receive, send)


@contextmanager
def reading(language: Language) -> Iterator[None]:
    """Texts in `language` inside the block: a request's, or work outside one (a test)."""
    token = _current.set(_Reading(language))
    try:
        yield
    finally:
        _current.reset(token)


def choose_user_language(language: Language | None) -> None:
    """The signed-in user's own setting wins over the browser's (None: keep the browser's)."""
    now = _current.get()
    if now is not None and language is not None and language in LANGUAGES:
        now.language = language


def current_language() -> Language:
    reading = _current.get()
    return reading.language if reading is not None else SOURCE_LANGUAGE


# The catalogs --------------------------------------------------------------------------------


def catalog(language: Language) -> Catalog:
    """All of a language's `.po` files as one catalog (a later file's entry wins)."""
    merged = Catalog(locale=language, domain="messages")
    for path in sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as po:
            for message in read_po(po, locale=language):
                if message.id:
                    merged[message.id] = message
    return merged


@cache
def translations(language: Language) -> Translations:
    mo = BytesIO()
    write_mo(mo, catalog(language))  # fuzzy entries are left out, as msgfmt does
    mo.seek(0)
    return Translations(mo)


@cache
def _refusal_patterns(language: Language) -> list[tuple[re.Pattern[str], str]]:
    """The catalog's refusals with values: a regular expression of the English and the
    translation to fill in."""
    found: list[tuple[re.Pattern[str], str, int]] = []
    for message in catalog(language):
        if message.context != REFUSAL_CONTEXT or not message.string or message.fuzzy:
            continue
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        parts = re.split(r"%\((\w+)\)s", msgid)
        pattern = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^;]+?)" for i, part in enumerate(parts)
        )
        msgstr = message.string if isinstance(message.string, str) else message.string[0]
        found.append((re.compile(pattern, re.S), msgstr, len("".join(parts[::2]))))
    # the most specific first: "step '%(step)s' is offered: …" before "step '%(step)s' is …"
    return [(pattern, msgstr) for pattern, msgstr, _ in sorted(found, key=lambda f: -f[2])]


def gettext(message: str) -> str:
    return translations(current_language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_language()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return str(translations(current_language()).pgettext(context, message))


def refusal_text(message: str) -> str:
    """A message from a service shown on a page (a refusal, a validation message): the
    catalog's translation of it as it is, else of the refusal pattern it fits; several
    problems joined by "; " (a step's fields) each on its own. Else as it is."""
    language = current_language()
    if language == SOURCE_LANGUAGE or not message:
        return message
    found = _translated_refusal(language, message)
    if found is not None:
        return found
    if "; " in message:
        return "; ".join(refusal_text(part) for part in message.split("; "))
    return message


def _translated_refusal(language: Language, message: str) -> str | None:
    # services write "choose a file", pages show "Choose a file": either is looked up
    asked = list(dict.fromkeys((message, message[:1].lower() + message[1:])))
    for text in asked:
        exact = translations(language).gettext(text)
        if exact != text:
            return exact
    for pattern, translated in _refusal_patterns(language):
        for text in asked:
            match = pattern.fullmatch(text)
            if match is not None:
                values = {
                    name: pgettext(REFUSAL_VALUE_CONTEXT, value)
                    for name, value in match.groupdict().items()
                }
                return translated % values
    return None


# Dates and numbers as the reader writes them ----------------------------------------------

_MOMENT_FORMATS: Final[dict[Language, str]] = {
    "en": "EEE, d MMM y, HH:mm",  # Fri, 11 Dec 2026, 14:00
    "de": "EEE, d. MMM y, HH:mm",  # Fr., 11. Dez. 2026, 14:00
}


_DAY_MONTH_FORMATS: Final[dict[Language, str]] = {"en": "d MMM", "de": "d. MMM"}


def moment(value: datetime, zone: ZoneInfo) -> str:
    language = current_language()
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return format_datetime(value, _MOMENT_FORMATS[language], tzinfo=zone, locale=language)


def day_month(day: date) -> str:
    """A day and its month, short: "5 Jan" / "5. Jan."."""
    language = current_language()
    return format_date(day, _DAY_MONTH_FORMATS[language], locale=language)


def number(value: float | int | Decimal | None, digits: int | None = None) -> str:
    """A number as the reader writes it (1,234.5 / 1.234,5); `digits` fixes the decimals."""
    if value is None:
        return ""
    if digits is None:
        return format_decimal(value, locale=current_language())
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return format_decimal(value, format=pattern, locale=current_language())


# the domain's words for people (partnerflow/wording.py) in the same language
wording.install(gettext, ngettext, day_month)


def install(env: Environment) -> None:
    """The templates' `_`, `gettext`, `ngettext` (new style: `_("%(n)s open", n=3)`, values
    escaped) and `{% trans %}`, each in the language of the request being rendered."""
    for language in LANGUAGES:  # a broken catalog fails the start, not a page
        translations(language)
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(gettext, ngettext, newstyle=True, pgettext=pgettext)  # type: ignore[attr-defined]
    env.globals["page_language"] = current_language
    env.filters["number"] = number
    env.filters["refusal"] = refusal_text
