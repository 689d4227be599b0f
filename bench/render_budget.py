"""`python -m bench.render_budget [N]`: what rendering in a child process costs per e-mail.

Three ways to render the same hand-over template N times: in this process (no budget), in
the pool's warm children (`partnerflow.render_pool`, what Partnerflow does), and in a fresh
child per render (a process started, used once and ended). Prints the mean per render.
"""

import os
import sys
import time
from collections.abc import Callable

from partnerflow.default_emails import sample_context
from partnerflow.emails import render, render_here
from partnerflow.render_pool import RenderPool

# A hand-over e-mail as a person writes one (a built-in one would render in this process).
SUBJECT = "Auftrag: {{ step.name }} bei {{ customer.name }}"
HANDOVER_HTML = """<p>Hallo {{ partner.name }},</p>
<p>bitte installieren Sie die Anlage bei {{ customer.name }},
{{ customer.address.street }}, {{ customer.address.city }}, bis {{ step.due_at | datetime }}.</p>
<p><a href="{{ step.url }}">Zum Auftrag</a></p>"""


def _mean_ms(label: str, renders: int, one: Callable[[], object]) -> None:
    one()  # warm: compiled template, loaded locale data, a started child
    started = time.perf_counter()
    for _ in range(renders):
        one()
    print(f"{label:<28} {(time.perf_counter() - started) / renders * 1000:8.2f} ms per render")


def main(renders: int) -> None:
    context = sample_context("http://partnerflow.test")
    _mean_ms(
        "in this process",
        renders,
        lambda: render_here(SUBJECT, HANDOVER_HTML, None, context),
    )
    _mean_ms(
        "pool of warm children", renders, lambda: render(SUBJECT, HANDOVER_HTML, None, context)
    )

    def fresh_child() -> object:
        pool = RenderPool(size=1)
        try:
            return pool.run(
                {
                    "subject": SUBJECT,
                    "body_html": HANDOVER_HTML,
                    "body_text": None,
                    "context": context,
                    "language": "de",
                    "timezone": "Europe/Berlin",
                }
            )
        finally:
            pool.close()

    _mean_ms("fresh child per render", max(1, renders // 20), fresh_child)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
    sys.stdout.flush()
    os._exit(0)
