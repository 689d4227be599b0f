"""A duration as the step editor shows it: a number and a unit ("3" and "days"), made into the
ISO 8601 duration the API keeps ("P3D") and back.

A stored duration no single unit says exactly ("P1DT12H": a calendar day and elapsed hours
differ across a DST change) is shown as it is written, with the unit "as written"."""

import re
from dataclasses import dataclass
from typing import Literal, assert_never

from api.web.i18n import N_
from api.web.i18n import gettext as _

DurationUnit = Literal["minutes", "hours", "days", "weeks", "months", "iso"]
UNITS: list[tuple[DurationUnit, str]] = [
    ("minutes", N_("minutes")),
    ("hours", N_("hours")),
    ("days", N_("days")),
    ("weeks", N_("weeks")),
    ("months", N_("months")),
]
AS_WRITTEN = ("iso", N_("as written (ISO 8601)"))
# What is said beside an amount that is no whole number, by unit.
_WHOLE_NUMBER: dict[DurationUnit, str] = {
    "minutes": N_("type a whole number of minutes, e.g. 3"),
    "hours": N_("type a whole number of hours, e.g. 3"),
    "days": N_("type a whole number of days, e.g. 3"),
    "weeks": N_("type a whole number of weeks, e.g. 3"),
    "months": N_("type a whole number of months, e.g. 3"),
    "iso": N_("type a duration as ISO 8601, e.g. P3D"),
}
_SHAPES: list[tuple[re.Pattern[str], DurationUnit]] = [
    (re.compile(r"^PT(\d+)M$"), "minutes"),
    (re.compile(r"^PT(\d+)H$"), "hours"),
    (re.compile(r"^P(\d+)D$"), "days"),
    (re.compile(r"^P(\d+)W$"), "weeks"),
    (re.compile(r"^P(\d+)M$"), "months"),
]
_WHOLE = re.compile(r"^[0-9]{1,6}$")


class NotADuration(ValueError):
    """What was typed is no whole number: said beside the amount."""


@dataclass
class DurationInput:
    amount: str = ""
    unit: str = "days"

    @classmethod
    def of(cls, duration: str | None, blank: str = "") -> "DurationInput":
        """The inputs for a stored duration; `blank` is the duration an empty amount means."""
        if duration is None or duration == blank:
            return cls()
        for shape, unit in _SHAPES:
            match = shape.fullmatch(duration)
            if match:
                return cls(str(int(match.group(1))), unit)
        return cls(duration, "iso")

    @property
    def blank(self) -> bool:
        return not self.amount.strip()

    def iso(self) -> str:
        """The ISO 8601 duration typed; NotADuration when the amount is not a whole number.
        An amount "as written" goes to the API as it is (its checks say what is wrong)."""
        amount = self.amount.strip()
        if self.unit == "iso":
            return amount.upper()
        unit = next((unit for unit, _label in UNITS if unit == self.unit), None)
        if unit is None:
            raise NotADuration(_("choose one of the units"))
        if not _WHOLE.fullmatch(amount):
            raise NotADuration(_(_WHOLE_NUMBER[unit]))
        return _iso(int(amount), unit)

    def unit_choices(self) -> list[tuple[str, str]]:
        """The unit select's options ("as written" only for a duration that needs it), in the
        reader's language."""
        shown = [*UNITS, AS_WRITTEN] if self.unit == "iso" else UNITS
        return [(unit, _(label)) for unit, label in shown]


def _iso(amount: int, unit: DurationUnit) -> str:
    match unit:
        case "minutes":
            return f"PT{amount}M"
        case "hours":
            return f"PT{amount}H"
        case "days":
            return f"P{amount}D"
        case "weeks":
            return f"P{amount}W"
        case "months":
            return f"P{amount}M"
        case "iso":
            raise AssertionError("a duration as written is not built from an amount")
        case _:
            assert_never(unit)
