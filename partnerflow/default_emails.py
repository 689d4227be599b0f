"""The e-mails sent when a step names no template of its own, in German and English."""

from partnerflow.emails import check_template

HANDOVER = {
    "de": {
        "subject": "Neuer Auftrag: {{ step.name }} – {{ opportunity.title }}",
        "body_html": """<p>Hallo {{ partner.name }},</p>
<p>Sie haben einen neuen Auftrag: <strong>{{ step.name }}</strong> für
{{ customer.name }}{% if customer.address.street %}, {{ customer.address.street }},
{{ customer.address.postal_code }} {{ customer.address.city }}{% endif %}.</p>
{% if step.instructions %}<p>{{ step.instructions }}</p>{% endif %}
<p>Bitte vereinbaren Sie den Termin direkt mit dem Kunden und tragen Sie ihn als Frist
des Schritts im Partnerportal ein.</p>
<p><a href="{{ step.url }}">Zum Auftrag im Partnerportal</a></p>
<p>Ihr Ansprechpartner: {{ contact.name }}</p>""",
    },
    "en": {
        "subject": "New assignment: {{ step.name }} – {{ opportunity.title }}",
        "body_html": """<p>Hello {{ partner.name }},</p>
<p>You have a new assignment: <strong>{{ step.name }}</strong> for
{{ customer.name }}{% if customer.address.street %}, {{ customer.address.street }},
{{ customer.address.postal_code }} {{ customer.address.city }}{% endif %}.</p>
{% if step.instructions %}<p>{{ step.instructions }}</p>{% endif %}
<p>Please agree the appointment directly with the customer and record it as the
step's deadline in the partner portal.</p>
<p><a href="{{ step.url }}">Open the assignment in the partner portal</a></p>
<p>Your contact person: {{ contact.name }}</p>""",
    },
}

for _template in HANDOVER.values():
    check_template(_template["subject"], _template["body_html"], None)
