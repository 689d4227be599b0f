"""A duration as the step editor shows it: a number and a unit ("3" and "days"), made into the
ISO 8601 duration the API keeps ("P3D") and back.

A stored duration no single unit says exactly ("P1DT12H": a calendar day and elapsed hours
differ across a DST change) is shown as it is written, with the unit "as written"."""

import re
from dataclasses import dataclass
from typing import Literal, assert_never

DurationUnit = Literal["minutes", "hours", "days", "weeks", "months", "iso"]
UNITS: list[tuple[DurationUnit, str]] = [
    ("minutes", "minutes"),
    ("hours", "hours"),
    ("days", "days"),
    ("weeks", "weeks"),
    ("months", "months"),
]
AS_WRITTEN = ("iso", "as written (ISO 8601)")
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
        unit = next((unit for unit, _ in UNITS if unit == self.unit), None)
        if unit is None:
            raise NotADuration("choose one of the units")
        if not _WHOLE.fullmatch(amount):
            raise NotADuration(f"type a whole number of {unit}, e.g. 3")
        return _iso(int(amount), unit)

    def unit_choices(self) -> list[tuple[str, str]]:
        """The unit select's options: "as written" only for a duration that needs it."""
        return [*UNITS, AS_WRITTEN] if self.unit == "iso" else list(UNITS)


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
