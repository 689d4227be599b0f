"""Template injection: known payloads are refused when saved, and none executes at render."""

import pytest

from partnerflow.emails import TemplateProblem, check_template, render
from tests.conftest import Stack

PAYLOADS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ self.__init__.__globals__.__builtins__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__.os.popen('id').read() }}",
    "{{ namespace.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ config.items() }}",
    "{{ request.application.__globals__.__builtins__.__import__('os').popen('id').read() }}",
    "{{ customer|attr('__class__')|attr('__mro__') }}",
    "{{ customer['__class__'] }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}",
    "{{ customer.name.__class__.__mro__[1].__subclasses__() }}",
    "{{ range.__self__ }}",
    "{% set x = customer.__init__ %}{{ x }}",
]

SAMPLE = {"customer": {"name": "Jana"}, "step": {"name": "Installation"}}


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_is_refused_when_saved(payload: str) -> None:
    with pytest.raises(TemplateProblem):
        check_template("Subject", f"<p>{payload}</p>", None)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_never_executes_when_rendered(payload: str) -> None:
    """Even past the save check (say, a row written by hand), the sandbox holds."""
    try:
        rendered = render("Subject", f"<p>{payload}</p>", None, SAMPLE)
    except TemplateProblem:
        return
    except Exception as error:  # any refusal from Jinja itself is fine, an execution is not
        assert "uid=" not in str(error)
        return
    assert "uid=" not in rendered.html
    assert "<class" not in rendered.html and "&lt;class" not in rendered.html
    assert "subclasses" not in rendered.html


async def test_payloads_are_refused_over_the_api(stack: Stack) -> None:
    for payload in PAYLOADS:
        response = await stack.http.post(
            "/api/email-templates",
            json={"name": "x", "subject": "s", "body_html": payload},
            headers=stack.admin,
        )
        assert response.status_code == 422, payload
    listed = (await stack.http.get("/api/email-templates", headers=stack.admin)).json()
    assert listed["count"] == 0
