"""The words the domain writes for people (diagrams, charts, conditions in words), in the
reader's language: written in English and marked with `_`/`ngettext` here; the web layer
installs its translator (api/web/i18n.py: the language of the request being answered), so this
layer never imports it. Outside the web (the worker, a unit test) they stay English."""

from collections.abc import Callable
from datetime import date


def _english(message: str) -> str:
    return message


def _english_plural(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


def _english_day(day: date) -> str:
    return f"{day.day} {day:%b}"


_gettext: Callable[[str], str] = _english
_ngettext: Callable[[str, str, int], str] = _english_plural
_day_month: Callable[[date], str] = _english_day


def install(
    gettext: Callable[[str], str],
    ngettext: Callable[[str, str, int], str],
    day_month: Callable[[date], str],
) -> None:
    global _gettext, _ngettext, _day_month
    _gettext, _ngettext, _day_month = gettext, ngettext, day_month


def _(message: str) -> str:
    return _gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _ngettext(singular, plural, n)


def day_month(day: date) -> str:
    """A day and its month, short: "5 Jan", "5. Jan."."""
    return _day_month(day)


def N_(message: str) -> str:
    """Marks a constant for the catalogs; `_()` it where it is said."""
    return message
