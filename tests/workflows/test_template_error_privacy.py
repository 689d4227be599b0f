"""A template failing on a customer's value: its author sees why, Temporal never the value."""

import pytest
from temporalio.exceptions import ApplicationError

from activities.failures import classified
from partnerflow.emails import TemplateProblem, render

QUOTED = "nach Absprache mit Frau Meier"


def test_a_render_error_shows_the_author_the_value_and_temporal_only_the_kind() -> None:
    body = "<p>Termin:\n{{ opportunity.attributes.termin | date }}</p>"
    context = {"opportunity": {"attributes": {"termin": QUOTED}}}
    with pytest.raises(TemplateProblem) as problem:
        render("Termin", body, None, context, language="de", timezone="Europe/Berlin")
    assert QUOTED in str(problem.value)  # the preview tells the author what went wrong
    with pytest.raises(ApplicationError) as failure, classified():
        raise problem.value
    # what the activity reports to Temporal (history, attention note, read model)
    assert QUOTED not in str(failure.value) and "Meier" not in str(failure.value)
    assert "body_html" in str(failure.value) and "cannot be rendered" in str(failure.value)
    assert failure.value.non_retryable
