"""The e-mails sent when a step names no template of its own, in German and English."""

from datetime import UTC, datetime
from typing import Any

from partnerflow.emails import check_template

_LINK_DE = '<p><a href="{{ step.url }}">Zum Schritt im Partnerportal</a></p>'
_LINK_EN = '<p><a href="{{ step.url }}">Open the step in the partner portal</a></p>'
_DUE_DE = "{% if step.due_at %}{{ step.due_at | datetime }}{% else %}–{% endif %}"
_DUE_EN = _DUE_DE

DEFAULTS: dict[str, dict[str, dict[str, str]]] = {
    "handover": {
        "de": {
            "subject": "Neuer Auftrag: {{ step.name }} – {{ opportunity.title }}",
            "body_html": """<p>Hallo {{ partner.name }},</p>
<p>Sie haben einen neuen Auftrag: <strong>{{ step.name }}</strong> für
{{ customer.name }}{% if customer.address.street %}, {{ customer.address.street }},
{{ customer.address.postal_code }} {{ customer.address.city }}{% endif %}.</p>
{% if step.instructions %}<p>{{ step.instructions }}</p>{% endif %}
{% if step.due_at %}<p>Frist: {{ step.due_at | datetime }}</p>{% endif %}
<p>Bitte vereinbaren Sie den Termin direkt mit dem Kunden und tragen Sie ihn als Frist
des Schritts im Partnerportal ein.</p>"""
            + _LINK_DE
            + "\n<p>Ihr Ansprechpartner: {{ contact.name }}</p>",
        },
        "en": {
            "subject": "New assignment: {{ step.name }} – {{ opportunity.title }}",
            "body_html": """<p>Hello {{ partner.name }},</p>
<p>You have a new assignment: <strong>{{ step.name }}</strong> for
{{ customer.name }}{% if customer.address.street %}, {{ customer.address.street }},
{{ customer.address.postal_code }} {{ customer.address.city }}{% endif %}.</p>
{% if step.instructions %}<p>{{ step.instructions }}</p>{% endif %}
{% if step.due_at %}<p>Due: {{ step.due_at | datetime }}</p>{% endif %}
<p>Please agree the appointment directly with the customer and record it as the
step's deadline in the partner portal.</p>"""
            + _LINK_EN
            + "\n<p>Your contact person: {{ contact.name }}</p>",
        },
    },
    "reminder": {
        "de": {
            "subject": "Erinnerung: {{ step.name }} fällig am " + _DUE_DE,
            "body_html": "<p>Hallo {{ partner.name }},</p><p>der Schritt <strong>{{ step.name }}"
            "</strong> für {{ customer.name }} ist fällig am " + _DUE_DE + ".</p>" + _LINK_DE,
        },
        "en": {
            "subject": "Reminder: {{ step.name }} is due " + _DUE_EN,
            "body_html": "<p>Hello {{ partner.name }},</p><p>the step <strong>{{ step.name }}"
            "</strong> for {{ customer.name }} is due " + _DUE_EN + ".</p>" + _LINK_EN,
        },
    },
    "overdue": {
        "de": {
            "subject": "Frist überschritten: {{ step.name }} – {{ opportunity.title }}",
            "body_html": "<p>Hallo {{ contact.name }},</p><p>der Schritt <strong>{{ step.name }}"
            "</strong> ({{ partner.name }}) war fällig am " + _DUE_DE + " und ist noch offen.</p>"
            '<p><a href="{{ process.url }}">Zum Vorgang</a></p>',
        },
        "en": {
            "subject": "Overdue: {{ step.name }} – {{ opportunity.title }}",
            "body_html": "<p>Hello {{ contact.name }},</p><p>the step <strong>{{ step.name }}"
            "</strong> ({{ partner.name }}) was due " + _DUE_EN + " and is still open.</p>"
            '<p><a href="{{ process.url }}">Open the process</a></p>',
        },
    },
    "completion": {
        "de": {
            "subject": "Erledigt: {{ step.name }} – {{ opportunity.title }}",
            "body_html": "<p>Hallo {{ contact.name }},</p><p>{{ partner.name }} hat den Schritt "
            "<strong>{{ step.name }}</strong> für {{ customer.name }} abgeschlossen. "
            "Sie können mit den nächsten Schritten weitermachen.</p>"
            '<p><a href="{{ process.url }}">Zum Vorgang</a></p>',
        },
        "en": {
            "subject": "Done: {{ step.name }} – {{ opportunity.title }}",
            "body_html": "<p>Hello {{ contact.name }},</p><p>{{ partner.name }} has finished "
            "<strong>{{ step.name }}</strong> for {{ customer.name }}. "
            "You can carry on with the next steps.</p>"
            '<p><a href="{{ process.url }}">Open the process</a></p>',
        },
    },
    "cancelled": {
        "de": {
            "subject": "Abgesagt: {{ step.name }} – {{ opportunity.title }}",
            "body_html": "<p>Hallo {{ partner.name }},</p><p>der Vorgang für {{ customer.name }} "
            "wurde abgebrochen; der Schritt <strong>{{ step.name }}</strong> entfällt.</p>",
        },
        "en": {
            "subject": "Cancelled: {{ step.name }} – {{ opportunity.title }}",
            "body_html": "<p>Hello {{ partner.name }},</p><p>the process for {{ customer.name }} "
            "was cancelled; the step <strong>{{ step.name }}</strong> is no longer needed.</p>",
        },
    },
    "reassigned": {
        "de": {
            "subject": "Übertragen: {{ step.name }} – {{ opportunity.title }}",
            "body_html": "<p>Hallo {{ partner.name }},</p><p>der Schritt <strong>{{ step.name }}"
            "</strong> für {{ customer.name }} wurde jemand anderem übertragen.</p>",
        },
        "en": {
            "subject": "Reassigned: {{ step.name }} – {{ opportunity.title }}",
            "body_html": "<p>Hello {{ partner.name }},</p><p>the step <strong>{{ step.name }}"
            "</strong> for {{ customer.name }} was handed to someone else.</p>",
        },
    },
    "deadline_changed": {
        "de": {
            "subject": "Neue Frist: {{ step.name }} bis " + _DUE_DE,
            "body_html": "<p>Hallo {{ partner.name }},</p><p>die Frist für <strong>{{ step.name }}"
            "</strong> ({{ customer.name }}) ist jetzt " + _DUE_DE + ".</p>" + _LINK_DE,
        },
        "en": {
            "subject": "New deadline: {{ step.name }} by " + _DUE_EN,
            "body_html": "<p>Hello {{ partner.name }},</p><p>the deadline of <strong>"
            "{{ step.name }}</strong> ({{ customer.name }}) is now " + _DUE_EN + ".</p>" + _LINK_EN,
        },
    },
}

# To the contact person: the partner was revoked and its open steps in the process are theirs
# now. The partner itself is sent nothing (it may no longer see the customer's data).
DEFAULTS["partner_revoked"] = {
    "de": {
        "subject": "Partner gesperrt: {{ partner.name }} – {{ opportunity.title }}",
        "body_html": "<p>Hallo {{ contact.name }},</p><p>{{ partner.name }} ist als Partner "
        "gesperrt und erhält zu diesem Vorgang nichts mehr. Seine offenen Schritte liegen "
        "jetzt bei Ihnen, darunter <strong>{{ step.name }}</strong>. Übernehmen Sie sie oder "
        "übertragen Sie sie einem anderen Partner.</p>"
        '<p><a href="{{ process.url }}">Zum Vorgang</a></p>',
    },
    "en": {
        "subject": "Partner revoked: {{ partner.name }} – {{ opportunity.title }}",
        "body_html": "<p>Hello {{ contact.name }},</p><p>{{ partner.name }} was revoked as a "
        "partner and is sent nothing more about this process. Its open steps are yours now, "
        "among them <strong>{{ step.name }}</strong>. Take them on or hand them to another "
        "partner.</p>"
        '<p><a href="{{ process.url }}">Open the process</a></p>',
    },
}

# To the assignee (a partner organisation, or a company user): the reviewer sent the step
# back. Staff open it on the process page, a partner in the portal.
_BACK_LINK_DE = (
    '{% if partner.name %}<p><a href="{{ step.url }}">Zum Schritt im Partnerportal</a></p>'
    '{% else %}<p><a href="{{ process.url }}">Zum Vorgang</a></p>{% endif %}'
)
_BACK_LINK_EN = (
    '{% if partner.name %}<p><a href="{{ step.url }}">Open the step in the partner portal</a>'
    '</p>{% else %}<p><a href="{{ process.url }}">Open the process</a></p>{% endif %}'
)
DEFAULTS["changes_requested"] = {
    "de": {
        "subject": "Änderungen erbeten: {{ step.name }} – {{ opportunity.title }}",
        "body_html": "<p>Hallo{% if partner.name %} {{ partner.name }}{% endif %},</p>"
        "<p>der Schritt <strong>{{ step.name }}</strong> für {{ customer.name }} wurde "
        "geprüft. Bitte ändern Sie Folgendes:</p>"
        "<blockquote><p>{{ reason }}</p></blockquote>"
        "<p>Schließen Sie den Schritt danach erneut ab."
        "{% if step.due_at %} Frist: {{ step.due_at | datetime }}.{% endif %}</p>"
        + _BACK_LINK_DE
        + "\n<p>Ihr Ansprechpartner: {{ contact.name }}</p>",
    },
    "en": {
        "subject": "Changes requested: {{ step.name }} – {{ opportunity.title }}",
        "body_html": "<p>Hello{% if partner.name %} {{ partner.name }}{% endif %},</p>"
        "<p>the step <strong>{{ step.name }}</strong> for {{ customer.name }} was "
        "reviewed. Please change the following:</p>"
        "<blockquote><p>{{ reason }}</p></blockquote>"
        "<p>Then finish the step again."
        "{% if step.due_at %} Due: {{ step.due_at | datetime }}.{% endif %}</p>"
        + _BACK_LINK_EN
        + "\n<p>Your contact person: {{ contact.name }}</p>",
    },
}

# To the contact person: a partner handed its step back, which is theirs now.
DEFAULTS["step_declined"] = {
    "de": {
        "subject": "Zurückgegeben: {{ step.name }} – {{ opportunity.title }}",
        "body_html": "<p>Hallo {{ contact.name }},</p><p>{{ partner.name }} hat den Schritt "
        "<strong>{{ step.name }}</strong> für {{ customer.name }} zurückgegeben:</p>"
        "<blockquote><p>{{ reason }}</p></blockquote>"
        "<p>Der Schritt liegt jetzt bei Ihnen. Übernehmen Sie ihn oder übertragen Sie ihn "
        "einem anderen Partner.</p>"
        '<p><a href="{{ process.url }}">Zum Vorgang</a></p>',
    },
    "en": {
        "subject": "Handed back: {{ step.name }} – {{ opportunity.title }}",
        "body_html": "<p>Hello {{ contact.name }},</p><p>{{ partner.name }} handed the step "
        "<strong>{{ step.name }}</strong> for {{ customer.name }} back:</p>"
        "<blockquote><p>{{ reason }}</p></blockquote>"
        "<p>The step is yours now. Take it on or hand it to another partner.</p>"
        '<p><a href="{{ process.url }}">Open the process</a></p>',
    },
}

DEFAULTS["invitation"] = {
    "de": {
        "subject": "Einladung zur Zusammenarbeit: {{ partner.name }}",
        "body_html": "<p>Hallo {{ partner.name }},</p><p>{{ invitation.invited_by }} lädt Sie "
        "ein, Aufträge über das Partnerportal abzuwickeln: dort sehen Sie auf einen Blick, was "
        "bis wann zu tun ist.</p>"
        '<p><a href="{{ invitation.url }}">Einladung annehmen</a></p>'
        "<p>Der Link gilt bis {{ invitation.expires_at | datetime }} und nur einmal.</p>",
    },
    "en": {
        "subject": "Invitation to work together: {{ partner.name }}",
        "body_html": "<p>Hello {{ partner.name }},</p><p>{{ invitation.invited_by }} invites "
        "you to handle assignments in the partner portal, where you see at a glance what is "
        "due by when.</p>"
        '<p><a href="{{ invitation.url }}">Accept the invitation</a></p>'
        "<p>The link works once, until {{ invitation.expires_at | datetime }}.</p>",
    },
}

DEFAULTS["magic_link"] = {
    "de": {
        "subject": "Ihr Anmeldelink für das Partnerportal",
        "body_html": "<p>Hallo,</p><p>mit diesem Link melden Sie sich für "
        "{{ partner.name }} im Partnerportal an:</p>"
        '<p><a href="{{ link.url }}">Anmelden</a></p>'
        "<p>Der Link gilt bis {{ link.expires_at | datetime }} und nur einmal. Wenn Sie ihn "
        "nicht angefordert haben, können Sie diese E-Mail ignorieren.</p>",
    },
    "en": {
        "subject": "Your sign-in link for the partner portal",
        "body_html": "<p>Hello,</p><p>this link signs you in to the partner "
        "portal for {{ partner.name }}:</p>"
        '<p><a href="{{ link.url }}">Sign in</a></p>'
        "<p>The link works once, until {{ link.expires_at | datetime }}. If you did not ask "
        "for it, you can ignore this e-mail.</p>",
    },
}

# A new account's (or one switched on again) first sign-in: the link is the only credential
# it is given; the person makes their own API token after signing in.
DEFAULTS["welcome"] = {
    "de": {
        "subject": "Ihr Zugang zu Partnerflow"
        "{% if partner.name %} für {{ partner.name }}{% endif %}",
        "body_html": "<p>Hallo,</p><p>Ihr Zugang zu Partnerflow ist eingerichtet"
        "{% if partner.name %} ({{ partner.name }}){% endif %}. Mit diesem Link melden Sie "
        "sich zum ersten Mal an:</p>"
        '<p><a href="{{ link.url }}">Anmelden</a></p>'
        "<p>Der Link gilt bis {{ link.expires_at | datetime }} und nur einmal. "
        "{% if partner.name %}Später fordern Sie unter {{ portal_url }}/sign-in jederzeit "
        "einen neuen Anmeldelink an."
        "{% else %}Erstellen Sie nach der Anmeldung unter „Konto“ Ihren API-Token: mit ihm "
        "melden Sie sich künftig an.{% endif %}</p>"
        "<p>Wenn Sie keinen Zugang erwartet haben, können Sie diese E-Mail ignorieren.</p>",
    },
    "en": {
        "subject": "Your Partnerflow account"
        "{% if partner.name %} for {{ partner.name }}{% endif %}",
        "body_html": "<p>Hello,</p><p>your Partnerflow account is ready"
        "{% if partner.name %} ({{ partner.name }}){% endif %}. This link signs you in for "
        "the first time:</p>"
        '<p><a href="{{ link.url }}">Sign in</a></p>'
        "<p>The link works once, until {{ link.expires_at | datetime }}. "
        "{% if partner.name %}Later, ask for a new sign-in link at {{ portal_url }}/sign-in "
        "whenever you need one."
        "{% else %}After signing in, create your API token under “Account”: you sign in "
        "with it from then on.{% endif %}</p>"
        "<p>If you did not expect an account, you can ignore this e-mail.</p>",
    },
}

# To a partner a step is offered to: the job and where it is, until when it may accept. Not
# who the customer is (partnerflow/email_context.py leaves that out of an offer's e-mails).
_PLACE = (
    "{% if customer.address.postal_code or customer.address.city %} in "
    "{{ customer.address.postal_code }} {{ customer.address.city }}{% endif %}"
)
DEFAULTS["offer"] = {
    "de": {
        "subject": "Auftragsangebot: {{ step.name }}" + _PLACE,
        "body_html": "<p>Hallo {{ partner.name }},</p>"
        "<p>wir bieten Ihnen einen Auftrag an: <strong>{{ step.name }}</strong>" + _PLACE + ".</p>"
        "{% if step.instructions %}<p>{{ step.instructions }}</p>{% endif %}"
        "{% if offer.expires_at %}<p>Das Angebot gilt bis {{ offer.expires_at | datetime }}."
        "</p>{% endif %}"
        "<p>Nehmen Sie es im Partnerportal an oder lehnen Sie es ab. Name und Anschrift des "
        "Kunden sehen Sie, sobald der Auftrag Ihrer ist.</p>"
        '<p><a href="{{ offer.url }}">Zu den Angeboten im Partnerportal</a></p>'
        "\n<p>Ihr Ansprechpartner: {{ contact.name }}</p>",
    },
    "en": {
        "subject": "Job offer: {{ step.name }}" + _PLACE,
        "body_html": "<p>Hello {{ partner.name }},</p>"
        "<p>we are offering you a job: <strong>{{ step.name }}</strong>" + _PLACE + ".</p>"
        "{% if step.instructions %}<p>{{ step.instructions }}</p>{% endif %}"
        "{% if offer.expires_at %}<p>The offer is open until {{ offer.expires_at | datetime }}."
        "</p>{% endif %}"
        "<p>Accept or decline it in the partner portal. You see the customer's name and "
        "address once the job is yours.</p>"
        '<p><a href="{{ offer.url }}">Open your offers in the partner portal</a></p>'
        "\n<p>Your contact person: {{ contact.name }}</p>",
    },
}
# To a partner whose offer is closed before it answered: another took the job, or it went
# elsewhere (to the contact person, a cancelled process).
DEFAULTS["offer_withdrawn"] = {
    "de": {
        "subject": "Angebot vergeben: {{ step.name }}" + _PLACE,
        "body_html": "<p>Hallo {{ partner.name }},</p>"
        "<p>das Angebot <strong>{{ step.name }}</strong>" + _PLACE + " ist nicht mehr offen: "
        "ein anderer Partner hat den Auftrag übernommen, oder er wurde anders vergeben. Sie "
        "müssen nichts weiter tun.</p>"
        '<p><a href="{{ offer.url }}">Zu den Angeboten im Partnerportal</a></p>',
    },
    "en": {
        "subject": "Offer closed: {{ step.name }}" + _PLACE,
        "body_html": "<p>Hello {{ partner.name }},</p>"
        "<p>the offer <strong>{{ step.name }}</strong>" + _PLACE + " is no longer open: "
        "another partner took the job, or it went elsewhere. There is nothing more for you "
        "to do.</p>"
        '<p><a href="{{ offer.url }}">Open your offers in the partner portal</a></p>',
    },
}

# To a partner that set or moved its step's appointment itself (the step's deadline): the date
# as recorded, in the template's time zone, with the .ics that puts it in (or moves it in) its
# calendar. Staff moving it send `deadline_changed` instead.
DEFAULTS["appointment"] = {
    "de": {
        "subject": "Termin bestätigt: {{ step.name }} am " + _DUE_DE,
        "body_html": "<p>Hallo {{ partner.name }},</p><p>Ihr Termin für <strong>"
        "{{ step.name }}</strong> ({{ customer.name }}) ist eingetragen: " + _DUE_DE + ".</p>"
        "<p>Die Kalenderdatei im Anhang trägt ihn in Ihren Kalender ein; wurde der Termin "
        "verschoben, ersetzt sie den früheren.</p>" + _LINK_DE,
    },
    "en": {
        "subject": "Appointment confirmed: {{ step.name }} on " + _DUE_EN,
        "body_html": "<p>Hello {{ partner.name }},</p><p>your appointment for <strong>"
        "{{ step.name }}</strong> ({{ customer.name }}) is recorded: " + _DUE_EN + ".</p>"
        "<p>The calendar file attached adds it to your calendar; if the appointment moved, "
        "it replaces the earlier one.</p>" + _LINK_EN,
    },
}

for _kind in DEFAULTS.values():
    for _template in _kind.values():
        check_template(_template["subject"], _template["body_html"], None)


def sample_context(public_url: str) -> dict[str, Any]:
    """Made-up data to preview a template with before any process uses it."""
    base = public_url.rstrip("/")
    process_id = "00000000-0000-4000-8000-000000000000"
    return {
        "customer": {
            "name": "Jana Becker",
            "email": "jana.becker@example.com",
            "phone": "+49 221 555 0100",
            "address": {
                "street": "Lindenweg 4",
                "postal_code": "50667",
                "city": "Köln",
                "country": "DE",
            },
        },
        "opportunity": {"title": "PV-Anlage Familie Becker", "product": "pv", "attributes": {}},
        "process": {"id": process_id, "url": f"{base}/processes/{process_id}"},
        "step": {
            "key": "installation",
            "name": "Installation",
            "instructions": "Termin mit dem Kunden vereinbaren und die Anlage installieren.",
            "due_at": datetime(2026, 12, 11, 13, 0, tzinfo=UTC),
            "url": f"{base}/portal/processes/{process_id}/steps/installation",
        },
        "partner": {"name": "Sonnenschein Solar GmbH"},
        "contact": {"name": "Carla Kontakt", "email": "carla@example.com"},
        "fields": {"agree_appointment": {"installation_date": "2026-12-11"}},
        "portal_url": f"{base}/portal",
        "reason": "Auf dem Foto des Zählerschranks fehlt die Plombe.",
        "offer": {
            "url": f"{base}/portal/offers",
            "expires_at": datetime(2026, 12, 9, 17, 0, tzinfo=UTC),
        },
    }
