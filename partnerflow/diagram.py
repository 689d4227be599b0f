"""A process drawn as SVG on the server: its steps in columns by how deep they sit in the
`requires` graph, arrows for what each step waits for, a condition written on the arrow into
the step it decides, a review loop as an arrow back into its step; on a running process each
step coloured by its state and the state also written in the box.

No script and no build step. Every text is escaped here (the pages mark the SVG safe); the
picture has a title and a description for screen readers, and `described` says the same in
lines of text for a list beside it. Pure: the template's steps (and their states) in, text out.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import assert_never, get_args

from partnerflow.conditions import in_words as condition_in_words
from partnerflow.spec import OfferAssignee, StepSpec, StepStatus, resolve_requires
from partnerflow.wording import _, ngettext

BOX_W, BOX_H = 168, 58
START_W, START_H = 52, 26
COL_GAP = 148  # room for a condition written on the arrow into the next column
ROW_GAP = 48  # room above a box for its review loop and its label
MARGIN = 12
TOP = 40  # the first row's review loop
LABEL_CHARS = 22  # what fits on a line in the gap between two columns
LABEL_LINES = 3
NAME_CHARS = 22  # what fits on a line in a box
SHRINK = 0.7  # how far a wide diagram shrinks to fit its place before it scrolls

INK = "#344054"
MUTED = "#667085"
ARROW = "#667085"
CONDITION = "#175cd3"
LOOP = "#b54708"


@dataclass(frozen=True)
class Look:
    """How a state is drawn, and said: the colour is never the only sign."""

    words: str
    fill: str
    stroke: str
    ink: str = INK
    dashed: bool = False


NO_STATE = Look("", "#ffffff", "#98a2b3")


def look_of(status: StepStatus) -> Look:
    match status:
        case "pending":
            return Look(_("waiting"), "#ffffff", "#98a2b3")
        case "active":
            return Look(_("open"), "#eff4ff", "#2f6fde")
        case "offered":
            return Look(_("offered"), "#f4f0ff", "#6941c6")
        case "in_review":
            return Look(_("in review"), "#fff6e0", "#b54708")
        case "completed":
            return Look(_("done"), "#e8f5ec", "#1a7f37")
        case "not_applicable":
            return Look(_("not applicable"), "#f2f4f7", "#98a2b3", ink=MUTED, dashed=True)
        case "skipped":
            return Look(_("skipped"), "#f2f4f7", "#667085", ink=MUTED)
        case "cancelled":
            return Look(_("cancelled"), "#fdecea", "#b42318", ink=MUTED)
        case _:
            assert_never(status)


_STATUSES: tuple[StepStatus, ...] = get_args(StepStatus)


def status_of(text: str) -> StepStatus | None:
    """A read model's status as the closed set (None for one this code does not know)."""
    return next((status for status in _STATUSES if status == text), None)


@dataclass(frozen=True)
class _Placed:
    step: StepSpec
    column: int  # 1 for the steps that open at the start (the start is column 0)
    x: float
    y: float

    @property
    def middle(self) -> float:
        return self.y + BOX_H / 2


def columns(steps: Sequence[StepSpec]) -> dict[str, int]:
    """Each step's column: 1 for a step that waits for nothing, else one more than the
    deepest step it waits for. `steps` must be acyclic (the template checks say so)."""
    resolved = {step.key: step.requires or [] for step in resolve_requires(list(steps))}
    found: dict[str, int] = {}

    def depth(key: str, seen: frozenset[str]) -> int:
        if key in found:
            return found[key]
        if key in seen:  # a cycle the checks would refuse: drawn, not looped forever
            return 1
        requires = [r for r in resolved.get(key, []) if r in resolved]
        found[key] = 1 + max((depth(r, seen | {key}) for r in requires), default=0)
        return found[key]

    for key in resolved:
        depth(key, frozenset())
    return found


def _layout(steps: Sequence[StepSpec]) -> tuple[list[_Placed], float, float]:
    depth = columns(steps)
    by_column: dict[int, list[StepSpec]] = {}
    for step in steps:
        by_column.setdefault(depth[step.key], []).append(step)
    rows = max((len(column) for column in by_column.values()), default=1)
    pitch = BOX_H + ROW_GAP
    placed = []
    for column, members in sorted(by_column.items()):
        x = MARGIN + START_W + COL_GAP + (column - 1) * (BOX_W + COL_GAP)
        offset = (rows - len(members)) * pitch / 2  # a short column sits in the middle
        for row, step in enumerate(members):
            placed.append(_Placed(step, column, x, TOP + offset + row * pitch))
    width = MARGIN * 2 + START_W + max(by_column, default=1) * (BOX_W + COL_GAP)
    height = TOP + rows * pitch - ROW_GAP + MARGIN
    return placed, width, height


def _text(value: str) -> str:
    return escape(value, quote=True)


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _lines(words: str, limit: int = LABEL_CHARS, most: int = LABEL_LINES) -> list[str]:
    """Words wrapped into at most `most` lines of `limit` characters; the last cut with "…"."""
    lines: list[str] = []
    for word in words.split():
        if lines and len(lines[-1]) + 1 + len(word) <= limit:
            lines[-1] += " " + word
        else:
            lines.append(word)
    lines = [_cut(line, limit) for line in lines]
    if len(lines) > most:
        last = lines[most - 1]
        lines = [*lines[: most - 1], last + " …" if len(last) <= limit - 2 else _cut(last, limit)]
        if not lines[-1].endswith("…"):  # a full line cut anyway: the rest is elsewhere
            lines[-1] = lines[-1][: limit - 1] + "…"
    return lines


def condition_words(step: StepSpec) -> str | None:
    """What the step's condition says, or None when it always applies."""
    if not step.when:
        return None
    return _("only if %(condition)s") % {"condition": condition_in_words(step.when)}


def offer_words(step: StepSpec) -> str | None:
    """How the step is offered to partners, or None when it is not offered."""
    offer = step.assignee
    if not isinstance(offer, OfferAssignee):
        return None
    if offer.mode == "ranked":
        if offer.pool:
            return _("offered to the partners serving the area, one at a time")
        return _("offered to partners, one at a time")
    if offer.pool:
        return _("offered to the partners serving the area, the first to accept takes it")
    return _("offered to partners, the first to accept takes it")


def review_words(step: StepSpec) -> str | None:
    if step.review is None:
        return None
    rounds = step.review.max_rounds
    return ngettext("review, up to %(num)d round", "review, up to %(num)d rounds", rounds) % {
        "num": rounds
    }


def _and() -> str:
    return _("and")


def described(
    steps: Sequence[StepSpec], states: Mapping[str, StepStatus] | None = None
) -> list[str]:
    """The diagram in words, a line for each step: what it waits for (its arrows), its
    condition, its review loop, and its state."""
    names = {step.key: step.name for step in steps}
    lines = []
    for step in resolve_requires(list(steps)):
        requires = [names.get(key, key) for key in step.requires or []]
        after = f" {_and()} ".join(requires)
        parts = [_("after %(steps)s") % {"steps": after} if requires else _("opens at the start")]
        for extra in (condition_words(step), offer_words(step), review_words(step)):
            if extra:
                parts.append(extra)
        line = f"{step.name}: {', '.join(parts)}"
        status = states.get(step.key) if states is not None else None
        if status is not None:
            line += f"; {look_of(status).words}"
        lines.append(line + ".")
    return lines


def draw(
    steps: Sequence[StepSpec],
    states: Mapping[str, StepStatus] | None = None,
    *,
    diagram_id: str = "process-diagram",
    title: str | None = None,
    keys: bool = True,
) -> str:
    """The process as an SVG image; with `states`, each step coloured and labelled by its
    state (a step missing from `states` is drawn without one, with its key unless `keys` is
    false: the builder's people name steps by key, a partner does not)."""
    placed, width, height = _layout(steps)
    at = {p.step.key: p for p in placed}
    ident = _text(diagram_id)
    title = title or _("The process as a diagram")
    summary = " ".join(described(steps, states)) or _("No steps.")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" role="img" '
        f'style="width:100%;height:auto;max-width:{width:.0f}px;min-width:{width * SHRINK:.0f}px" '
        f'aria-labelledby="{ident}-title {ident}-desc" font-family="sans-serif" '
        f'font-size="12" fill="{INK}" class="diagram">',
        f'<title id="{ident}-title">{_text(title)}</title>',
        f'<desc id="{ident}-desc">{_text(summary)}</desc>',
        "<defs>",
        *(
            f'<marker id="{ident}-{name}" viewBox="0 0 10 10" refX="9" refY="5" '
            f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
            for name, colour in (("arrow", ARROW), ("loop", LOOP))
        ),
        "</defs>",
    ]
    starts = [p for p in placed if p.column == 1]
    start_y = (min(p.middle for p in starts) + max(p.middle for p in starts)) / 2 if starts else TOP
    parts.append(
        f'<rect x="{MARGIN}" y="{start_y - START_H / 2:.1f}" width="{START_W}" '
        f'height="{START_H}" rx="{START_H / 2}" fill="{INK}"/>'
        f'<text x="{MARGIN + START_W / 2}" y="{start_y + 4:.1f}" text-anchor="middle" '
        f'fill="#ffffff" font-weight="600">{_text(_("Start"))}</text>'
    )
    resolved = {step.key: step for step in resolve_requires(list(steps))}
    for target in placed:
        sources = [at[key] for key in resolved[target.step.key].requires or [] if key in at]
        ends = [(s.x + BOX_W, s.middle) for s in sources] or [(MARGIN + START_W, start_y)]
        for sx, sy in ends:
            parts.append(_arrow(sx, sy, target.x, target.middle, ident))
        words = condition_words(target.step)
        if words:
            parts.append(_label(words, target.x - 8, target.middle - 8))
    for box in placed:
        status = states.get(box.step.key) if states is not None else None
        parts.append(_box(box, status, keys))
        loop = review_words(box.step)
        if loop:
            parts.append(_loop(box, loop, ident))
    parts.append("</svg>")
    return "".join(parts)


def _arrow(sx: float, sy: float, tx: float, ty: float, ident: str) -> str:
    bend = (tx - sx) / 2
    return (
        f'<path d="M{sx:.1f},{sy:.1f} C{sx + bend:.1f},{sy:.1f} {tx - bend:.1f},{ty:.1f} '
        f'{tx - 2:.1f},{ty:.1f}" fill="none" stroke="{ARROW}" stroke-width="1.5" '
        f'marker-end="url(#{ident}-arrow)"/>'
    )


def _label(words: str, right: float, bottom: float) -> str:
    """Words right-aligned at `right`, their last line's baseline at `bottom`, on a halo so
    an arrow behind them does not cross them out."""
    lines = _lines(words)
    first = bottom - (len(lines) - 1) * 13
    spans = "".join(
        f'<tspan x="{right:.1f}" y="{first + n * 13:.1f}">{_text(line)}</tspan>'
        for n, line in enumerate(lines)
    )
    return (
        f'<text text-anchor="end" font-size="11" fill="{CONDITION}" stroke="#ffffff" '
        f'stroke-width="3" paint-order="stroke" class="condition">'
        f"<title>{_text(words)}</title>{spans}</text>"
    )


def _box(box: _Placed, status: StepStatus | None, keys: bool) -> str:
    look = look_of(status) if status is not None else NO_STATE
    step = box.step
    dash = ' stroke-dasharray="5 3"' if look.dashed else ""
    said = (step.name, condition_words(step), offer_words(step), look.words)
    tooltip = "; ".join(words for words in said if words)
    second = look.words or (step.key if keys else "")
    state_attr = f' data-status="{_text(status)}"' if status is not None else ""
    return (
        f'<g class="step" data-key="{_text(step.key)}"{state_attr}>'
        f"<title>{_text(tooltip)}</title>"
        f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{BOX_W}" height="{BOX_H}" rx="6" '
        f'fill="{look.fill}" stroke="{look.stroke}" stroke-width="2"{dash}/>'
        f'<text x="{box.x + 10:.1f}" y="{box.y + 23:.1f}" font-weight="600" '
        f'fill="{look.ink}">{_text(_cut(step.name, NAME_CHARS))}</text>'
        f'<text x="{box.x + 10:.1f}" y="{box.y + 43:.1f}" font-size="11" '
        f'fill="{look.ink if look.words else MUTED}">{_text(_cut(second, NAME_CHARS + 4))}</text>'
        "</g>"
    )


def _loop(box: _Placed, words: str, ident: str) -> str:
    """An arrow out of the box's top and back into it: the reviewer sends the step back."""
    right, left, top = box.x + BOX_W - 28, box.x + 28, box.y - 26
    return (
        f'<path d="M{right:.1f},{box.y:.1f} C{right:.1f},{top:.1f} {left:.1f},{top:.1f} '
        f'{left:.1f},{box.y - 2:.1f}" fill="none" stroke="{LOOP}" stroke-width="1.5" '
        f'stroke-dasharray="4 3" marker-end="url(#{ident}-loop)"/>'
        f'<text x="{box.x + BOX_W / 2:.1f}" y="{top - 4:.1f}" text-anchor="middle" '
        f'font-size="11" fill="{LOOP}" stroke="#ffffff" stroke-width="3" paint-order="stroke" '
        f'class="review">{_text(words)}</text>'
    )
