"""The process diagram (partnerflow/diagram.py): pure, no server. The SVG is read back as XML,
as a browser would, so a text that broke out of its element would fail to parse."""

import xml.etree.ElementTree as ET
from typing import Any

from partnerflow import diagram
from partnerflow.spec import StepSpec, StepStatus

SVG = "{http://www.w3.org/2000/svg}"


def steps(*specs: dict[str, Any]) -> list[StepSpec]:
    return [StepSpec.model_validate({"assignee": {"type": "contact"}, **spec}) for spec in specs]


HEAT_PUMP = steps(
    {
        "key": "survey",
        "name": "Site survey",
        "fields": [{"key": "scaffold_needed", "label": "Scaffold needed", "type": "boolean"}],
    },
    {
        "key": "grid",
        "name": "Grid registration",
        "when": {"all": [{"field": "opportunity.attributes.power_kw", "op": "gt", "value": 12}]},
    },
    {
        "key": "scaffold",
        "name": "Scaffold",
        "requires": ["survey"],
        "when": {
            "all": [{"field": "fields.survey.scaffold_needed", "op": "equals", "value": True}]
        },
    },
    {
        "key": "install",
        "name": "Installation",
        "requires": ["grid", "scaffold"],
        "review": {"max_rounds": 2},
    },
)


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 (our own output, read to check it)


def boxes(root: ET.Element) -> dict[str, ET.Element]:
    return {g.attrib["data-key"]: g for g in root.iter(f"{SVG}g") if "data-key" in g.attrib}


def box_x(group: ET.Element) -> float:
    rect = group.find(f"{SVG}rect")
    assert rect is not None
    return float(rect.attrib["x"])


def texts(root: ET.Element, kind: str) -> list[str]:
    """The words of each text of a class, its lines joined (without its tooltip)."""
    found = []
    for element in root.iter(f"{SVG}text"):
        if element.attrib.get("class") == kind:
            spans = element.findall(f"{SVG}tspan")
            words = " ".join(span.text or "" for span in spans) if spans else element.text or ""
            found.append(words)
    return found


def test_steps_stand_in_columns_by_their_depth_in_the_requires_graph() -> None:
    assert diagram.columns(HEAT_PUMP) == {"survey": 1, "grid": 2, "scaffold": 2, "install": 3}
    parallel = steps(
        {"key": "a", "name": "A"},
        {"key": "b", "name": "B", "requires": []},
        {"key": "c", "name": "C", "requires": ["a", "b"]},
        {"key": "d", "name": "D", "requires": ["a"]},
        {"key": "e", "name": "E", "requires": ["c", "d"]},
    )
    assert diagram.columns(parallel) == {"a": 1, "b": 1, "c": 2, "d": 2, "e": 3}
    placed = boxes(parsed(diagram.draw(parallel)))
    assert box_x(placed["a"]) == box_x(placed["b"]) < box_x(placed["c"])
    assert box_x(placed["c"]) == box_x(placed["d"]) < box_x(placed["e"])


def test_an_arrow_for_each_requirement_and_from_the_start_to_each_first_step() -> None:
    root = parsed(diagram.draw(HEAT_PUMP))
    arrows = [p for p in root.iter(f"{SVG}path") if "arrow)" in p.attrib.get("marker-end", "")]
    # start → survey, survey → grid, survey → scaffold, grid → install, scaffold → install
    assert len(arrows) == 5
    described = diagram.described(HEAT_PUMP)
    assert described[0] == "Site survey: opens at the start."
    assert described[3].startswith("Installation: after Grid registration and Scaffold")


def test_the_condition_is_written_on_the_arrow_into_its_step() -> None:
    root = parsed(diagram.draw(HEAT_PUMP))
    assert texts(root, "condition") == [
        "only if power_kw > 12",
        "only if survey: scaffold_needed is yes",
    ]
    # beside the arrow's end: right-aligned just left of the step's box
    grid_x = box_x(boxes(root)["grid"])
    label = next(t for t in root.iter(f"{SVG}text") if t.attrib.get("class") == "condition")
    assert label.attrib["text-anchor"] == "end"
    span = label.find(f"{SVG}tspan")
    assert span is not None and grid_x - 20 < float(span.attrib["x"]) < grid_x
    assert "only if power_kw > 12" in diagram.described(HEAT_PUMP)[1]


def test_a_long_condition_wraps_and_keeps_its_whole_text_as_a_tooltip() -> None:
    when = {
        "any": [
            {"field": "opportunity.product", "op": "any_of", "value": ["heat pump", "boiler"]},
            {"field": "opportunity.customer.address.postal_code", "op": "is_empty"},
            {"field": "opportunity.attributes.roof_area_square_metres", "op": "lte", "value": 40},
        ]
    }
    drawn = parsed(diagram.draw(steps({"key": "a", "name": "A", "when": when})))
    label = next(t for t in drawn.iter(f"{SVG}text") if t.attrib.get("class") == "condition")
    lines = [span.text or "" for span in label.findall(f"{SVG}tspan")]
    assert len(lines) == diagram.LABEL_LINES
    assert all(len(line) <= diagram.LABEL_CHARS for line in lines)
    assert lines[-1].endswith("…")
    tooltip = label.find(f"{SVG}title")
    assert tooltip is not None and tooltip.text is not None
    assert tooltip.text.endswith("roof_area_square_metres ≤ 40")


def test_a_review_is_a_loop_back_into_its_step() -> None:
    root = parsed(diagram.draw(HEAT_PUMP))
    assert texts(root, "review") == ["review, up to 2 rounds"]
    loops = [p for p in root.iter(f"{SVG}path") if "loop)" in p.attrib.get("marker-end", "")]
    assert len(loops) == 1
    install = box_x(boxes(root)["install"])
    # it leaves the box's top and comes back into it: both ends within the box
    start, end = loops[0].attrib["d"].split(" ")[0], loops[0].attrib["d"].split(" ")[-1]
    for point in (start.removeprefix("M"), end):
        assert install < float(point.split(",")[0]) < install + diagram.BOX_W
    assert diagram.described(HEAT_PUMP)[3].endswith("review, up to 2 rounds.")


def test_each_state_is_coloured_and_said_in_words() -> None:
    states: dict[str, StepStatus] = {
        "survey": "completed",
        "grid": "not_applicable",
        "scaffold": "active",
        "install": "pending",
    }
    root = parsed(diagram.draw(HEAT_PUMP, states))
    placed = boxes(root)
    assert {key: g.attrib["data-status"] for key, g in placed.items()} == states
    said = {key: [t.text for t in g.iter(f"{SVG}text")][1] for key, g in placed.items()}
    assert said == {
        "survey": "done",
        "grid": "not applicable",
        "scaffold": "open",
        "install": "waiting",
    }
    fills = {key: g.find(f"{SVG}rect").attrib["fill"] for key, g in placed.items()}  # type: ignore[union-attr]
    assert len(set(fills.values())) == 4
    grey = placed["grid"].find(f"{SVG}rect")
    assert grey is not None and "stroke-dasharray" in grey.attrib
    assert diagram.described(HEAT_PUMP, states)[1].endswith("; not applicable.")


def test_every_state_has_its_own_look_and_words() -> None:
    looks = [diagram.look_of(status) for status in diagram._STATUSES]
    assert len({look.words for look in looks}) == len(looks)
    assert len({(look.fill, look.stroke) for look in looks}) == len(looks)
    assert diagram.status_of("in_review") == "in_review"
    assert diagram.status_of("offered") == "offered"
    assert diagram.status_of("robot") is None


def test_without_a_state_a_box_shows_its_key_where_keys_are_wanted() -> None:
    root = parsed(diagram.draw(HEAT_PUMP))
    group = boxes(root)["survey"]
    assert "data-status" not in group.attrib
    assert [t.text for t in group.iter(f"{SVG}text")] == ["Site survey", "survey"]
    quiet = boxes(parsed(diagram.draw(HEAT_PUMP, {"grid": "active"}, keys=False)))
    assert [t.text for t in quiet["survey"].iter(f"{SVG}text")] == ["Site survey", None]
    assert [t.text for t in quiet["grid"].iter(f"{SVG}text")] == ["Grid registration", "open"]


def test_every_text_is_escaped() -> None:
    evil = '<script>alert("x")</script> & Co'
    hostile = steps(
        {"key": "a", "name": evil},
        {
            "key": "b",
            "name": "B",
            "when": {
                "all": [{"field": "opportunity.product", "op": "equals", "value": "</text><svg>"}]
            },
        },
    )
    svg = diagram.draw(hostile, diagram_id='x"><script>', title="<b>Title</b>")
    assert "<script>" not in svg and "</text><svg>" not in svg and "<b>" not in svg
    root = parsed(svg)  # still one well-formed picture
    assert (
        next(t.text for t in boxes(root)["a"].iter(f"{SVG}text"))
        == evil[: diagram.NAME_CHARS - 1] + "…"
    )
    assert texts(root, "condition") == ["only if product is </text><svg>"]
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == "<b>Title</b>"


def test_the_picture_has_a_title_and_a_description_for_screen_readers() -> None:
    root = parsed(diagram.draw(HEAT_PUMP, {"survey": "completed"}))
    assert root.attrib["role"] == "img"
    title_id, desc_id = root.attrib["aria-labelledby"].split()
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None and title.attrib["id"] == title_id
    assert desc is not None and desc.attrib["id"] == desc_id
    assert desc.text == " ".join(diagram.described(HEAT_PUMP, {"survey": "completed"}))
    assert desc.text.startswith("Site survey: opens at the start; done.")
