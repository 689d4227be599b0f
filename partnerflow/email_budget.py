"""What rendering an e-mail template may cost, and the save-time refusal of what would not fit.

The save check reads the parsed template only, it never evaluates any of it: a literal that
would make a string of hundreds of megabytes or a loop of a billion rounds is refused here,
naming the part and line. What it cannot see (a width held in a variable, a loop bound built
at run time) is stopped at render by the budget below, enforced in a child process
(`partnerflow.render_pool`).
"""

import re
from collections.abc import Iterator

from jinja2 import nodes

# A render gets this much memory (above what the child needs to start) and the time the
# setting `render_seconds` says (3 s); an e-mail renders in milliseconds and a few hundred
# kilobytes.
RENDER_MEMORY_BYTES = 128 * 1024 * 1024
# How many child processes render at once, and how long a render waits for a free one
# before it gives up (a transient error: the e-mail activity retries). Waiting plus the
# render stays well inside the e-mail activity's 60 s, so no worker thread is held past it.
RENDER_PROCESSES = 2
RENDER_QUEUE_SECONDS = 20.0

# The widest padding, centring, indent or format field a template may write down.
MAX_WIDTH = 1_000
# Rounds of nested loops over literal ranges and lists, all levels multiplied.
MAX_LOOP_ROUNDS = 100_000

# Methods and filters whose numeric arguments make the result that many characters or items.
_SIZING_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})
_SIZING_FILTERS = frozenset({"center", "indent", "batch", "slice"})
# printf-style fields (`%-200s`, `%.5f`, `%*d`) and str.format fields (`{:>200}`, `{0:{1}}`)
_PRINTF_FIELD = re.compile(r"%(?:\([^)]*\))?([-#0 +]*[0-9*]*(?:\.[0-9*]*)?)[hlL]?[a-zA-Z%]")
_FORMAT_FIELD = re.compile(r"\{[^{}]*:([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")


class BudgetProblem(Exception):
    """What a template's literals would cost too much; `line` where it is written."""

    def __init__(self, message: str, line: int) -> None:
        self.line = line
        super().__init__(message)


def check_budget(tree: nodes.Template) -> None:
    """Refuse literal widths, format fields and loop sizes no e-mail needs."""
    for call in tree.find_all(nodes.Call):
        if isinstance(call.node, nodes.Getattr):
            if call.node.attr in _SIZING_METHODS:
                _check_sizes(f"{call.node.attr}()", _numbers(call), call.lineno)
            elif call.node.attr == "format":
                _check_format(call.node.node, _numbers(call), call.lineno)
    for applied in tree.find_all(nodes.Filter):
        if applied.name in _SIZING_FILTERS:
            _check_sizes(f"the {applied.name} filter", _numbers(applied), applied.lineno)
        elif applied.name == "format" and applied.node is not None:
            _check_format(applied.node, _numbers(applied), applied.lineno)
    for mod in tree.find_all(nodes.Mod):
        _check_format(mod.left, list(_numbers_in(mod.right)), mod.lineno)
    _check_loops(tree, 1)


def _numbers(call: nodes.Call | nodes.Filter) -> list[float]:
    return [n for arg in [*call.args, *(kw.value for kw in call.kwargs)] for n in _numbers_in(arg)]


def _numbers_in(node: nodes.Node) -> Iterator[float]:
    """The numeric literals in an argument, signs and tuples included (`-5`, `(1, 2e8)`)."""
    if isinstance(node, nodes.Const):
        value = node.value
        if isinstance(value, int | float) and not isinstance(value, bool):
            yield abs(value)
    elif isinstance(node, nodes.UnaryExpr):
        yield from _numbers_in(node.node)
    elif isinstance(node, nodes.Tuple | nodes.List):
        for item in node.items:
            yield from _numbers_in(item)


def _check_sizes(what: str, numbers: list[float], line: int) -> None:
    for number in numbers:
        if number > MAX_WIDTH:
            raise BudgetProblem(
                f"{what} with {number:.0f}: an e-mail needs no width over {MAX_WIDTH}", line
            )


def _check_format(pattern: nodes.Node, numbers: list[float], line: int) -> None:
    if not (isinstance(pattern, nodes.Const) and isinstance(pattern.value, str)):
        return
    specs = _PRINTF_FIELD.findall(pattern.value) + _FORMAT_FIELD.findall(pattern.value)
    for spec in specs:
        for digits in re.findall(r"[0-9]+", spec):
            if int(digits) > MAX_WIDTH:
                raise BudgetProblem(
                    f"a format field of width {int(digits)}: an e-mail needs none over {MAX_WIDTH}",
                    line,
                )
    if any("*" in spec or "{" in spec for spec in specs):  # the width comes from an argument
        _check_sizes("a format field's width", numbers, line)


def _check_loops(node: nodes.Node, rounds: int) -> None:
    """Nested loops multiply: three over range(1000) are a billion rounds."""
    if isinstance(node, nodes.For):
        inner = rounds * _rounds_of(node.iter)
        if inner > MAX_LOOP_ROUNDS:
            raise BudgetProblem(
                f"nested loops of {inner} rounds: an e-mail needs no more than {MAX_LOOP_ROUNDS}",
                node.lineno,
            )
        for part in node.body:
            _check_loops(part, inner)
        for part in node.else_:
            _check_loops(part, rounds)
        return
    for child in node.iter_child_nodes():
        _check_loops(child, rounds)


def _rounds_of(iterable: nodes.Node) -> int:
    """How many rounds a loop over this makes, where a literal says it; 1 where it cannot."""
    if isinstance(iterable, nodes.List | nodes.Tuple):
        return len(iterable.items)
    if isinstance(iterable, nodes.Const) and isinstance(iterable.value, str | list | tuple):
        return len(iterable.value)
    if (
        isinstance(iterable, nodes.Call)
        and isinstance(iterable.node, nodes.Name)
        and iterable.node.name == "range"
        and not iterable.kwargs
        and 1 <= len(iterable.args) <= 3
        and all(isinstance(arg, nodes.Const) and type(arg.value) is int for arg in iterable.args)
    ):
        bounds = [arg.value for arg in iterable.args if isinstance(arg, nodes.Const)]
        start, stop, step = (0, bounds[0], 1) if len(bounds) == 1 else (*bounds[:2], 1)
        if len(bounds) == 3:
            step = bounds[2] or 1
        return max(0, -((start - stop) // step))
    return 1
