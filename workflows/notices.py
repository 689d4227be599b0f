"""The short in-app notices a process leaves for people, in the template's language."""

_TEXTS = {
    "assigned": {"de": "Neue Aufgabe: {step}", "en": "New task: {step}"},
    "completed": {"de": "Erledigt: {step}", "en": "Done: {step}"},
    "overdue": {"de": "Frist überschritten: {step}", "en": "Overdue: {step}"},
    "delivery_failed": {
        "de": "E-Mail zu {step} konnte nicht zugestellt werden",
        "en": "The e-mail about {step} could not be delivered",
    },
    "partner_revoked": {
        "de": "Partner gesperrt, jetzt bei Ihnen: {step}",
        "en": "Partner revoked, now yours: {step}",
    },
    "review_requested": {"de": "Bitte prüfen: {step}", "en": "Please review: {step}"},
    "changes_requested": {
        "de": "Änderungen erbeten: {step}",
        "en": "Changes requested: {step}",
    },
    "step_declined": {
        "de": "Vom Partner abgelehnt, jetzt bei Ihnen: {step}",
        "en": "Declined by the partner, now yours: {step}",
    },
    "step_at_risk": {
        "de": "Wird wahrscheinlich zu spät fertig: {step}",
        "en": "Likely to finish late: {step}",
    },
    "offer": {"de": "Neues Angebot: {step}", "en": "New offer: {step}"},
    "offer_withdrawn": {
        "de": "Angebot zurückgezogen: {step}",
        "en": "Offer withdrawn: {step}",
    },
    "offer_expired": {
        "de": "Angebot nicht angenommen, jetzt bei Ihnen: {step}",
        "en": "Nobody took the offer, now yours: {step}",
    },
    "substitute": {
        "de": "In Vertretung bei Ihnen: {step}",
        "en": "Yours as a substitute: {step}",
    },
    "substituted": {
        "de": "Während Ihrer Abwesenheit bei Ihrer Vertretung: {step}",
        "en": "With your substitute while you are away: {step}",
    },
}


def _text(kind: str, language: str, step: str) -> str:
    texts = _TEXTS[kind]
    return texts.get(language, texts["en"]).format(step=step)


def assigned(language: str, step: str) -> str:
    return _text("assigned", language, step)


def completed(language: str, step: str) -> str:
    return _text("completed", language, step)


def overdue(language: str, step: str) -> str:
    return _text("overdue", language, step)


def delivery_failed(language: str, step: str) -> str:
    return _text("delivery_failed", language, step)


def partner_revoked(language: str, steps: list[str]) -> str:
    """The contact person takes over the open steps of a partner that was revoked."""
    return _text("partner_revoked", language, ", ".join(steps))


def review_requested(language: str, step: str) -> str:
    """To the reviewer: the assignee finished the step, it waits for their answer."""
    return _text("review_requested", language, step)


def changes_requested(language: str, step: str) -> str:
    """To the assignee: the reviewer sent the step back (the reason is in the e-mail and on
    the step's page, never in Temporal)."""
    return _text("changes_requested", language, step)


def declined(language: str, step: str) -> str:
    """To the contact person: the partner handed the step back, which is theirs now."""
    return _text("step_declined", language, step)


def at_risk(language: str, step: str) -> str:
    """The forecast (partnerflow/forecast.py) expects the step to finish after its deadline."""
    return _text("step_at_risk", language, step)


def offered(language: str, step: str) -> str:
    """To a partner: a step is offered to it (the first to accept gets it)."""
    return _text("offer", language, step)


def offer_withdrawn(language: str, step: str) -> str:
    """To a partner offered a step: another took it, or it went elsewhere."""
    return _text("offer_withdrawn", language, step)


def offer_expired(language: str, step: str) -> str:
    """To the contact person: nobody took the offer in time, the step is theirs now."""
    return _text("offer_expired", language, step)


def substitute(language: str, step: str) -> str:
    """To the substitute: a step of someone away is theirs meanwhile."""
    return _text("substitute", language, step)


def substituted(language: str, step: str) -> str:
    """To the person away: a step of theirs went to their substitute."""
    return _text("substituted", language, step)
