"""E-mail templates: checked when saved, rendered in the sandbox, a text part from the HTML.

A template a person wrote renders in a child process under a budget of time and memory
(`partnerflow.render_pool`); the built-in e-mails render here. Nothing here evaluates a
template while checking it.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from jinja2 import (
    StrictUndefined,
    Template,
    TemplateSyntaxError,
    meta,
    nodes,
    pass_context,
    pass_eval_context,
)
from jinja2.compiler import CodeGenerator
from jinja2.environment import Environment
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from partnerflow import render_pool
from partnerflow.email_budget import BudgetProblem, check_budget
from partnerflow.settings import get_settings
from partnerflow.wording import N_

# What a template may use; the hand-over e-mail's context provides all of them.
TEMPLATE_VARIABLES: dict[str, str] = {
    "customer": N_(
        "the customer: name, email, phone, address (street, postal_code, city, country)"
    ),
    "opportunity": N_("the customer case: title, product, attributes"),
    "process": N_("the process: id, url"),
    "step": N_("the step: key, name, due_at, url, instructions"),
    "partner": N_("the partner organisation: name"),
    "contact": N_("the contact person: name, email"),
    "fields": N_("what earlier steps recorded, by step key then field key"),
    "portal_url": N_("the partner portal's address"),
    "invitation": N_("in the partner invitation: url, expires_at, invited_by"),
    "link": N_("in a partner's sign-in e-mail: url, expires_at"),
    "reason": N_("in a request for changes or a decline: the reason the reviewer or partner wrote"),
    "offer": N_(
        "in an offer e-mail: url (the portal's offers page), expires_at (until when the "
        "partner may accept); an offer's e-mails see the customer's postal code and city only"
    ),
}


# render() puts the template's language and time zone here; templates cannot name them.
_LANGUAGE = "_language"
_TIMEZONE = "_timezone"
_DATETIME_FORMATS = {"de": "EEEE, d. MMMM y, HH:mm 'Uhr'", "en": "EEEE, MMMM d, y, h:mm a"}


def _moment(context: Context, value: datetime | date | str) -> datetime | date:
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if len(value) > 10 else date.fromisoformat(value)
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo(context.get(_TIMEZONE) or get_settings().default_timezone))
    return value


@pass_context
def _date_filter(context: Context, value: datetime | date | str | None) -> str:
    if value is None:
        return ""
    return format_date(
        _moment(context, value), format="full", locale=context.get(_LANGUAGE) or "de"
    )


@pass_context
def _datetime_filter(context: Context, value: datetime | date | str | None) -> str:
    if value is None:
        return ""
    moment = _moment(context, value)
    language = context.get(_LANGUAGE) or "de"
    if not isinstance(moment, datetime):
        return format_date(moment, format="full", locale=language)
    pattern = _DATETIME_FORMATS.get(language, _DATETIME_FORMATS["en"])
    return format_datetime(moment, format=pattern, locale=language)


# An e-mail is small: a template that grows past these is refused, not rendered on.
MAX_OUTPUT = 1_000_000  # characters of one rendered part
MAX_REPEAT = 10_000  # "ab" * n, [x] * n
MAX_RANGE = 1_000


class _EmailSandbox(SandboxedEnvironment):
    """The sandbox, with bounds on what a template can make the machine do."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise SecurityError("exponent too large")
        if operator == "*":
            sized = isinstance(left, str | list | tuple) or isinstance(right, str | list | tuple)
            count = right if isinstance(right, int) else left
            if sized and isinstance(count, int) and count > MAX_REPEAT:
                raise SecurityError(f"repeats more than {MAX_REPEAT} times")
        return super().call_binop(context, operator, left, right)


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise SecurityError(f"a range of more than {MAX_RANGE} numbers")
    return numbers


@pass_eval_context
def _as_is(_: EvalContext, value: Any) -> Any:
    """Output as it is. Needing a context, it keeps Jinja from computing constant output while
    compiling: `{{ "%200000000s" % "x" }}` would otherwise be built by the save check."""
    return value


def _environment_for(autoescape: bool) -> SandboxedEnvironment:
    # optimized=False: no constant folding, for the same reason as `_as_is`
    environment = _EmailSandbox(
        undefined=StrictUndefined, autoescape=autoescape, optimized=False, finalize=_as_is
    )
    environment.globals["range"] = _bounded_range
    # lipsum(200000) is seconds of CPU, and no e-mail needs filler text
    del environment.globals["lipsum"]
    environment.filters["date"] = _date_filter
    environment.filters["datetime"] = _datetime_filter
    return environment


_environment = _environment_for(autoescape=True)
_text_environment = _environment_for(autoescape=False)


@lru_cache(maxsize=256)
def _compiled(source: str, *, autoescape: bool) -> Template:
    """A template compiled once: every e-mail of a kind shares the same source."""
    return (_environment if autoescape else _text_environment).from_string(source)


class TemplateProblem(ValueError):
    """A template that cannot be saved or rendered; names the part and, when known, the line."""

    def __init__(
        self, part: str, message: str, line: int | None = None, *, detail: str | None = None
    ) -> None:
        self.part = part
        self.line = line
        self.reason = message
        # What the error itself said: it may quote the value it met (a customer's name in a
        # date field), so the author's preview shows it and Temporal never gets it (`bare`).
        self.detail = detail
        self.bare = f"{part}, line {line}: {message}" if line else f"{part}: {message}"
        super().__init__(f"{self.bare}: {detail}" if detail else self.bare)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


def check_template(subject: str, body_html: str, body_text: str | None) -> None:
    """Refuse a template that does not parse, names a variable the context does not have, or
    writes down a size no e-mail needs; without running any of it."""
    for part, source in (("subject", subject), ("body_html", body_html), ("body_text", body_text)):
        if source is None:
            continue
        try:
            _check_part(part, source)
        except RecursionError as error:
            raise TemplateProblem(part, "nested too deeply") from error


def _check_part(part: str, source: str) -> None:
    try:
        tree = _environment.parse(source)
    except TemplateSyntaxError as error:
        raise TemplateProblem(part, error.message or "syntax error", error.lineno) from error
    _check_nodes(part, tree)
    try:
        check_budget(tree)
    except BudgetProblem as problem:
        raise TemplateProblem(part, str(problem), problem.line) from problem
    try:
        # compiling finds what parsing does not: an unknown filter or test
        found = _undeclared_variables(tree)
    except TemplateSyntaxError as error:
        raise TemplateProblem(part, error.message or "syntax error", error.lineno) from error
    unknown = sorted(found - TEMPLATE_VARIABLES.keys())
    if unknown:
        line = _first_line_naming(tree, unknown[0])
        raise TemplateProblem(part, f"unknown variable '{unknown[0]}'", line)


class _NameTracker(meta.TrackingCodeGenerator):
    """`meta.find_undeclared_variables`, without the constant folding it does by default."""

    def __init__(self, environment: Environment) -> None:
        CodeGenerator.__init__(
            self, environment, "<introspection>", "<introspection>", optimized=False
        )
        self.undeclared_identifiers: set[str] = set()


def _undeclared_variables(tree: nodes.Template) -> set[str]:
    tracker = _NameTracker(_environment)
    tracker.visit(tree)
    return tracker.undeclared_identifiers


_NO_FILES = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)


def _check_nodes(part: str, tree: nodes.Template) -> None:
    """Refuse at save what the sandbox would refuse at render: internals and other files."""
    for node in tree.find_all(_NO_FILES):
        raise TemplateProblem(part, "templates cannot load other templates or files", node.lineno)
    for test in tree.find_all(nodes.Test):  # Jinja looks tests up only when it renders
        if test.name not in _environment.tests:
            raise TemplateProblem(part, f"No test named '{test.name}'.", test.lineno)
    for getattr_node in tree.find_all(nodes.Getattr):
        if getattr_node.attr.startswith("_"):
            raise TemplateProblem(
                part, f"access to '{getattr_node.attr}' is not allowed", getattr_node.lineno
            )
    for getitem in tree.find_all(nodes.Getitem):
        key = getitem.arg
        if (
            isinstance(key, nodes.Const)
            and isinstance(key.value, str)
            and key.value.startswith("_")
        ):
            raise TemplateProblem(part, f"access to '{key.value}' is not allowed", getitem.lineno)
    for call in tree.find_all(nodes.Filter):
        if call.name in ("attr", "map", "selectattr", "rejectattr", "sort", "groupby", "sum"):
            for arg in [*call.args, *(kw.value for kw in call.kwargs)]:
                if isinstance(arg, nodes.Const) and str(arg.value).startswith("_"):
                    raise TemplateProblem(
                        part, f"access to '{arg.value}' is not allowed", call.lineno
                    )


def _first_line_naming(tree: nodes.Template, name: str) -> int | None:
    for node in tree.find_all(nodes.Name):
        if node.name == name:
            return node.lineno
    return None


def _bounded(template: Template, context: dict[str, Any]) -> str:
    """Rendered piece by piece, given up once it passes MAX_OUTPUT."""
    parts: list[str] = []
    size = 0
    for part in template.generate(context):
        size += len(part)
        if size > MAX_OUTPUT:
            raise SecurityError(f"the e-mail grows past {MAX_OUTPUT} characters")
        parts.append(part)
    return "".join(parts)


def render(
    subject: str,
    body_html: str,
    body_text: str | None,
    context: dict[str, Any],
    *,
    language: str = "de",
    timezone: str | None = None,
) -> RenderedEmail:
    """The e-mail; a TemplateProblem naming the part when it cannot be rendered within the
    budget (`partnerflow.email_budget`). Raises render_pool.RenderUnavailable, a transient
    error, when no render process is free."""
    if (subject, body_html, body_text) in _built_in_sources():
        return render_here(
            subject, body_html, body_text, context, language=language, timezone=timezone
        )
    answer = _in_child(
        {
            "subject": subject,
            "body_html": body_html,
            "body_text": body_text,
            "context": context,
            "language": language,
            "timezone": timezone,
        }
    )
    if "problem" in answer:
        problem = answer["problem"]
        raise TemplateProblem(
            problem["part"], problem["message"], problem.get("line"), detail=problem.get("detail")
        )
    return RenderedEmail(**answer["email"])


def _in_child(job: dict[str, Any]) -> dict[str, Any]:
    try:
        return render_pool.POOL.run(job)
    except render_pool.OverBudget as over:
        raise TemplateProblem(over.part, str(over)) from over


@lru_cache(maxsize=1)
def _built_in_sources() -> frozenset[tuple[str, str, str | None]]:
    """The e-mails that come with Partnerflow: code of ours, not a person's, so they render
    here without a round trip to a child."""
    # imported here: the built-in e-mails are checked by this module when they load
    from partnerflow.default_emails import DEFAULTS

    return frozenset(
        (source["subject"], source["body_html"], source.get("body_text"))
        for languages in DEFAULTS.values()
        for source in languages.values()
    )


def render_here(
    subject: str,
    body_html: str,
    body_text: str | None,
    context: dict[str, Any],
    *,
    language: str = "de",
    timezone: str | None = None,
    on_part: Callable[[str], None] | None = None,
) -> RenderedEmail:
    """Rendered in this process, with no limit of time or memory but the output's: the
    render child's work, and the built-in e-mails'. `on_part` hears which part is next."""
    context = {**context, _LANGUAGE: language, _TIMEZONE: timezone}

    def part(name: str, source: str, autoescape: bool) -> str:
        if on_part is not None:
            on_part(name)
        try:
            return _bounded(_compiled(source, autoescape=autoescape), context)
        except (UndefinedError, SecurityError) as error:
            raise TemplateProblem(name, str(error), getattr(error, "lineno", None)) from error
        except MemoryError as error:
            raise TemplateProblem(name, "needs more memory than an e-mail may use") from error
        except Exception as error:  # user-written: `{{ 1 / 0 }}`, `{{ name + 1 }}`, a bad date…
            raise TemplateProblem(
                name, f"cannot be rendered ({type(error).__name__})", detail=str(error)
            ) from error

    rendered_subject = part("subject", subject, autoescape=False)
    html = part("body_html", body_html, autoescape=True)
    text = part("body_text", body_text, autoescape=False) if body_text else html_to_text(html)
    return RenderedEmail(subject=" ".join(rendered_subject.split()), html=html, text=text)


class _TextExtractor(HTMLParser):
    _BREAKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "table", "ul", "ol"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._links: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BREAKS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")
        if tag == "a":
            self._links.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._links:
            href = self._links.pop()
            if href:
                self.parts.append(f" ({href})")
        if tag in self._BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """A readable plain-text part: paragraphs kept, links written out after their text."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = [line.strip() for line in "".join(extractor.parts).splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
