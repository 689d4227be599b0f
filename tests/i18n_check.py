"""Checks that a page shown in German says nothing the German catalog lacks, and that every
text the templates and page code mark has a German translation.

`untranslated(html, data)`: the visible texts of a rendered page (text nodes, and the
`title`/`aria-label`/`placeholder`/`alt` people hear or hover) that still hold words once the
page's data (names, addresses, what a person typed: `data`), e-mail addresses, ids, numbers,
dates and every piece of the German catalog's translations are taken out. A page whose texts
all come from the catalog answers [].

`missing_translations(paths)`: the msgids marked in those templates and modules
(`_()`, `gettext`, `ngettext`, `N_`, `{% trans %}`) that have no German translation.
"""

import re
from collections.abc import Iterable, Iterator
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

from babel import Locale
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file

from api.web.i18n import catalog

# Where a value goes in a translation (%(name)s, %(num)d, %s), and markup
_PIECES = re.compile(r"%(?:\(\w+\))?[sd]|<[^>]*>")
_LETTERS = re.compile(r"[^\W\d_]{2,}")
# data a page shows as it is: e-mail addresses, web and page addresses, ids, times, numbers
_DATA = [
    re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"),
    re.compile(r"https?://\S+"),
    re.compile(r"(?<!\w)/[\w/.?=&%-]*"),
    re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),
    re.compile(r"\bpf_[\w-]+"),
    re.compile(r"\d[\d.,:T+-]*"),
]
# what people hear or see of an element besides its text (`data-label`: a narrow table's
# column names, shown by the stylesheet)
_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt", "data-label")
_UNSEEN = ("script", "style", "code", "template")


def _normal(text: str) -> str:
    return " ".join(text.split())


@cache
def german_pieces() -> tuple[re.Pattern[str], ...]:
    """Each piece of text in the German translations (between placeholders and tags), as a
    pattern that matches it as whole words, the longest first."""
    pieces: set[str] = set()
    for message in catalog("de"):
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for translated in strings:
            # a literal % is written %% in a text with values
            for piece in re.split(_PIECES, str(translated or "").replace("%%", "%")):
                piece = _normal(piece or "")
                if _LETTERS.search(piece):
                    # pages capitalise a service's message ("wählen Sie …" → "Wählen Sie …")
                    pieces.update((piece, piece[:1].upper() + piece[1:]))
    return tuple(_as_words(piece) for piece in sorted(pieces, key=len, reverse=True))


def _as_words(text: str) -> re.Pattern[str]:
    """The text where it is not part of a longer word ("Admin" not in "Administrator"); an
    edge that is no letter or digit (": Einheit", "(de)") needs no such boundary."""
    before = r"(?<!\w)" if re.match(r"\w", text) else ""
    after = r"(?!\w)" if re.search(r"\w$", text) else ""
    return re.compile(before + re.escape(text) + after)


@cache
def _calendar_words() -> frozenset[str]:
    """How Babel writes German dates: day and month names, abbreviated and in full."""
    german = Locale("de")
    words: set[str] = set()
    for names in (german.days, german.months):
        for context in names.values():
            for width in context.values():
                words.update(str(name).rstrip(".") for name in width.values())
    return frozenset(words)


class _Texts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._unseen = 0
        # an SVG <text> is one text, however its lines are split into <tspan>s
        self._svg_text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _UNSEEN:
            self._unseen += 1
        if tag == "text":
            self._svg_text = []
        values = dict(attrs)
        for name in _ATTRIBUTES:
            if values.get(name):
                self.found.append(str(values[name]))
        if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
            self.found.append(str(values["value"]))

    def handle_endtag(self, tag: str) -> None:
        if tag in _UNSEEN and self._unseen:
            self._unseen -= 1
        if tag == "text" and self._svg_text is not None:
            self.found.append(" ".join(self._svg_text))
            self._svg_text = None

    def handle_data(self, data: str) -> None:
        if not self._unseen and data.strip():
            (self.found if self._svg_text is None else self._svg_text).append(data)


def visible_texts(html: str) -> list[str]:
    parser = _Texts()
    parser.feed(html)
    return [_normal(text) for text in parser.found]


def untranslated(html: str, data: Iterable[str] = ()) -> list[str]:
    """The page's texts with words left over that are neither data nor German translations."""
    known = sorted({_normal(value) for value in data if value and value.strip()}, key=len)
    data_patterns = [_as_words(value) for value in reversed(known)]  # "Anna Berg" before "Anna"
    # data first, or the translations first: a value inside a translated sentence ("Europe/
    # Berlin" in "z. B. Europe/Berlin."), or a translated word inside a value ("Übergabe" in
    # the template "Übergabe Installation"), is then taken out whole either way
    orders = (
        (*data_patterns, *german_pieces(), *_DATA),
        (*german_pieces(), *data_patterns, *_DATA),
    )
    return [text for text in visible_texts(html) if all(_words_left(text, o) for o in orders)]


def _words_left(text: str, patterns: Iterable[re.Pattern[str]]) -> list[str]:
    rest = text
    for pattern in patterns:
        rest = pattern.sub(" ", rest)
    return [w for w in _LETTERS.findall(rest) if w.rstrip(".") not in _calendar_words()]


def _marked(path: Path) -> Iterator[tuple[str, str | None, int]]:
    """Each marked text: its msgid (a plural's singular), its context, its line."""
    method = "python" if path.suffix == ".py" else "jinja2.ext:babel_extract"
    for lineno, message, _comments, context in extract_from_file(
        method, str(path), keywords=DEFAULT_KEYWORDS
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            yield msgid, context, lineno


def missing_translations(paths: Iterable[Path]) -> list[str]:
    """`file:line: msgid` of each marked text the German catalog does not translate."""
    german = catalog("de")
    missing = []
    for path in paths:
        for msgid, context, lineno in _marked(path):
            entry = german.get(msgid, context)
            strings = entry.string if entry is not None and not entry.fuzzy else None
            if not strings or (isinstance(strings, tuple) and not all(strings)):
                missing.append(f"{path}:{lineno}: {msgid}")
    return missing
