"""What an assignee records, checked against a step's fields and documents (workflows/fields.py)."""

from typing import Any
from uuid import uuid4

import pytest

from partnerflow.spec import DocumentSpec, FieldSpec, FieldType
from workflows.fields import MAX_TEXT, document_problems, field_problems
from workflows.messages import DocumentRef


def one(type: FieldType, value: Any, *, options: list[str] | None = None) -> list[str]:
    spec = FieldSpec(key="answer", label="Answer", type=type, options=options)
    return field_problems("survey", [spec], {"answer": value})


def test_every_problem_is_named_at_once_with_step_and_field() -> None:
    specs = [
        FieldSpec(key="visit", label="Visit", type="date", required=True),
        FieldSpec(key="rooms", label="Rooms", type="number"),
        FieldSpec(key="notes", label="Notes", type="text"),
    ]
    problems = field_problems("survey", specs, {"rooms": "three", "colour": "red"})
    assert problems == [
        "step 'survey', field 'colour': the step has no such field",
        "step 'survey', field 'visit': required",
        "step 'survey', field 'rooms': must be a number",
    ]


def test_values_that_fit_have_no_problems() -> None:
    specs = [
        FieldSpec(key="visit", label="Visit", type="date", required=True),
        FieldSpec(key="at", label="At", type="datetime"),
        FieldSpec(key="rooms", label="Rooms", type="number"),
        FieldSpec(key="roof", label="Roof ok", type="boolean", required=True),
        FieldSpec(key="kind", label="Kind", type="choice", options=["flat", "pitched"]),
        FieldSpec(key="notes", label="Notes", type="text"),
    ]
    values = {
        "visit": "2026-03-29",
        "at": "2026-03-29T10:30:00+02:00",
        "rooms": 3.5,
        "roof": False,
        "kind": "pitched",
        "notes": "",
    }
    assert field_problems("survey", specs, values) == []


def test_an_optional_field_may_be_left_out_or_null() -> None:
    spec = FieldSpec(key="notes", label="Notes", type="text")
    assert field_problems("survey", [spec], {}) == []
    assert field_problems("survey", [spec], {"notes": None}) == []


def test_a_required_field_sent_as_null_is_missing() -> None:
    spec = FieldSpec(key="roof", label="Roof ok", type="boolean", required=True)
    assert field_problems("survey", [spec], {"roof": None}) == [
        "step 'survey', field 'roof': required"
    ]


def test_false_fills_a_required_yes_no_field() -> None:
    spec = FieldSpec(key="roof", label="Roof ok", type="boolean", required=True)
    assert field_problems("survey", [spec], {"roof": False}) == []


# text ---------------------------------------------------------------------------------------


def test_text_up_to_the_limit_is_taken_one_more_character_is_not() -> None:
    assert one("text", "x" * MAX_TEXT) == []
    assert one("text", "x" * (MAX_TEXT + 1)) == [
        "step 'survey', field 'answer': longer than 10000 characters"
    ]


@pytest.mark.parametrize("value", [42, True, ["a"], {"a": 1}])
def test_text_must_be_text(value: Any) -> None:
    assert one("text", value) == ["step 'survey', field 'answer': must be text"]


# numbers and yes/no ------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -7, 3.25, 10**12])
def test_numbers_are_taken(value: float) -> None:
    assert one("number", value) == []


@pytest.mark.parametrize("value", ["3", "3,5", True, False, [3]])
def test_a_number_typed_as_text_or_a_yes_no_is_not_a_number(value: Any) -> None:
    assert one("number", value) == ["step 'survey', field 'answer': must be a number"]


@pytest.mark.parametrize("value", ["true", "yes", 1, 0, "on"])
def test_yes_no_must_be_true_or_false(value: Any) -> None:
    assert one("boolean", value) == ["step 'survey', field 'answer': must be true or false"]


# choices -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["Flat", " flat", "tiled", ""])
def test_a_choice_must_be_one_of_the_options_exactly(value: str) -> None:
    assert one("choice", value, options=["flat", "pitched"]) == [
        "step 'survey', field 'answer': must be one of ['flat', 'pitched']"
    ]


def test_a_listed_option_is_a_choice() -> None:
    assert one("choice", "flat", options=["flat", "pitched"]) == []


# dates -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["29.03.2026", "2026-3-29", "20260329", "2026-02-30", "2026-03-29T10:00", 20260329, ""],
)
def test_a_date_must_be_yyyy_mm_dd(value: Any) -> None:
    assert one("date", value) == ["step 'survey', field 'answer': must be a date (YYYY-MM-DD)"]


OUT_OF_RANGE = "step 'survey', field 'answer': must lie between the years 1900 and 2199"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1899-12-31", [OUT_OF_RANGE]),
        ("1900-01-01", []),
        ("2199-12-31", []),
        ("2200-01-01", [OUT_OF_RANGE]),
    ],
)
def test_a_date_far_off_is_refused_before_it_can_become_a_deadline(
    value: str, expected: list[str]
) -> None:
    assert one("date", value) == expected


@pytest.mark.parametrize(
    "value", ["2026-03-29T10:30:00+02:00", "2026-03-29T08:30:00Z", "2026-03-29 08:30+00:00"]
)
def test_a_date_and_time_with_an_offset_is_taken(value: str) -> None:
    assert one("datetime", value) == []


@pytest.mark.parametrize("value", ["2026-03-29T10:30:00", "2026-03-29"])
def test_a_date_and_time_without_an_offset_is_refused(value: str) -> None:
    # A wall-clock time without its zone would be read differently by each reader.
    assert one("datetime", value) == ["step 'survey', field 'answer': needs a time zone offset"]


@pytest.mark.parametrize("value", ["tomorrow 10:00", "29.03.2026 10:30", 1774773000])
def test_a_date_and_time_must_be_iso_8601(value: Any) -> None:
    assert one("datetime", value) == [
        "step 'survey', field 'answer': must be a date and time (ISO 8601)"
    ]


def test_a_date_and_time_in_year_2200_is_out_of_range() -> None:
    assert one("datetime", "2200-01-01T00:00:00+00:00") == [OUT_OF_RANGE]


# documents ---------------------------------------------------------------------------------


def upload(type: str) -> DocumentRef:
    return DocumentRef(id=uuid4(), type=type)


def test_a_required_document_needs_at_least_one_upload_even_with_min_count_zero() -> None:
    specs = [DocumentSpec(type="photo", label="Photo", required=True, min_count=0)]
    assert document_problems("survey", specs, []) == [
        "step 'survey', document 'photo': 0 of 1 uploaded"
    ]
    assert document_problems("survey", specs, [upload("photo")]) == []


def test_uploads_of_another_type_do_not_count() -> None:
    specs = [DocumentSpec(type="photo", label="Photos", min_count=3)]
    uploads = [upload("photo"), upload("photo"), upload("invoice")]
    assert document_problems("survey", specs, uploads) == [
        "step 'survey', document 'photo': 2 of 3 uploaded"
    ]
    assert document_problems("survey", specs, [*uploads, upload("photo")]) == []


def test_an_optional_document_with_a_minimum_still_needs_that_many() -> None:
    optional = DocumentSpec(type="plan", label="Plan", required=False, min_count=0)
    at_least_two = DocumentSpec(type="photo", label="Photo", required=False, min_count=2)
    assert document_problems("survey", [optional, at_least_two], [upload("photo")]) == [
        "step 'survey', document 'photo': 1 of 2 uploaded"
    ]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_number_that_is_not_finite_is_not_a_number(value: float) -> None:
    assert one("number", value) == ["step 'survey', field 'answer': must be a number"]


@pytest.mark.parametrize("value", ["2026-W01-1", "2026-٠١-٠١"])
def test_only_a_yyyy_mm_dd_date_is_a_date(value: str) -> None:
    assert one("date", value) == ["step 'survey', field 'answer': must be a date (YYYY-MM-DD)"]


def test_a_blank_required_text_is_missing() -> None:
    spec = FieldSpec(key="notes", label="Notes", type="text", required=True)
    assert field_problems("survey", [spec], {"notes": "  "}) == [
        "step 'survey', field 'notes': required"
    ]
