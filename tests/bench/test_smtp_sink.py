"""The chaos run's SMTP server (bench/smtp_sink.py) tells an acceptance its sender went on from
(QUIT) from one whose sender vanished after the message's end."""

import smtplib
from email.message import EmailMessage

from bench.smtp_sink import KEY_HEADER, SmtpSink
from tests.conftest import free_port


def _message(key: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.org", "b@example.org", key
    message[KEY_HEADER] = key
    message.set_content("Hallo")
    return message


def test_an_acceptance_without_quit_after_it_stays_unconfirmed() -> None:
    with SmtpSink(free_port()) as sink:
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as said_goodbye:
            said_goodbye.send_message(_message("p:a"))
        vanished = smtplib.SMTP("127.0.0.1", sink.port, timeout=10)
        vanished.send_message(_message("p:b"))
        vanished.close()  # as a killed sender's socket: no QUIT
        assert sink.deliveries() == {"p:a": 1, "p:b": 1}
        assert +sink.unconfirmed() == {"p:b": 1}
