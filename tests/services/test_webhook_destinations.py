"""Where webhooks may go (pure, with a stub resolver): https to public addresses only, unless
the settings allow plain http or private addresses; the address a name resolves to is what
is checked, and what a delivery connects to."""

import pytest

from partnerflow.refusals import Refused
from partnerflow.settings import Settings
from partnerflow.webhook_destinations import (
    Unresolvable,
    address_problem,
    destination,
)

STRICT = Settings(_env_file=None)
LOCAL = Settings(_env_file=None, webhooks_allow_http=True, webhooks_allow_private=True)
ZONE = {
    "crm.example.com": ["93.184.216.34"],
    "inside.example.com": ["10.0.0.7"],
    # one public answer beside a private one is refused too: the connection could take either
    "split.example.com": ["93.184.216.34", "192.168.1.4"],
    "v6.example.com": ["2606:4700:4700::1111"],
    "mapped.example.com": ["::ffff:127.0.0.1"],
    "numeric": ["127.0.0.1"],  # what getaddrinfo makes of "2130706433"
}


def stub(host: str) -> list[str]:
    if host not in ZONE:
        raise OSError("Name or service not known")
    return ZONE[host]


def refused(url: str, settings: Settings = STRICT) -> str:
    with pytest.raises(Refused) as caught:
        destination(url, settings, stub)
    assert caught.value.kind == "invalid"
    assert caught.value.loc == ("url",)
    return caught.value.message


def test_a_public_https_address_is_where_the_delivery_connects() -> None:
    found = destination("https://crm.example.com/hooks/pf?tenant=7", STRICT, stub)
    assert found.address == "93.184.216.34"
    assert found.address_url == "https://93.184.216.34:443/hooks/pf?tenant=7"
    assert found.host_header == "crm.example.com"
    v6 = destination("https://v6.example.com:8443", STRICT, stub)
    assert v6.address_url == "https://[2606:4700:4700::1111]:8443/"
    assert v6.host_header == "v6.example.com:8443"


def test_names_resolving_inside_are_refused_without_the_setting() -> None:
    assert "private" in refused("https://inside.example.com/in")
    assert "private" in refused("https://split.example.com/in")
    assert "loopback" in refused("https://mapped.example.com/in")
    assert "loopback" in refused("https://numeric/in")
    # with it (a test's receiver, an intranet on purpose) they are allowed
    assert destination("https://inside.example.com/in", LOCAL, stub).address == "10.0.0.7"


def test_address_literals_and_plain_http() -> None:
    assert "loopback" in refused("http://127.0.0.1:8080/in", Settings(_env_file=None,
                                 webhooks_allow_http=True))  # fmt: skip
    assert "https" in refused("http://crm.example.com/in")
    assert "https" in refused("http://127.0.0.1/in")  # either rule refuses it
    for url in ("https://10.1.2.3/", "https://172.16.0.1/", "https://192.168.0.1/",
                "https://169.254.169.254/", "https://[fe80::1]/", "https://[fd00::1]/",
                "https://100.64.0.1/", "https://0.0.0.0/", "https://224.0.0.1/",
                "https://240.0.0.1/"):  # fmt: skip
        refused(url)
    assert destination("http://127.0.0.1:9/in", LOCAL, stub).address == "127.0.0.1"
    assert destination("https://1.1.1.1/in", STRICT, stub).address_url == "https://1.1.1.1:443/in"


def test_an_international_name_goes_out_in_ascii() -> None:
    zone = {"xn--bcher-kva.example": ["93.184.216.34"]}
    found = destination("https://bücher.example/in", STRICT, lambda host: zone[host])
    assert found.host_header == "xn--bcher-kva.example"
    assert "host name" in refused(f"https://{'a' * 64}.example/in")


def test_a_name_that_does_not_resolve() -> None:
    with pytest.raises(Unresolvable):
        destination("https://nowhere.example.com/", STRICT, stub)


def test_every_kind_of_address_inside_is_named() -> None:
    assert address_problem("8.8.8.8") is None
    assert address_problem("2001:4860:4860::8888") is None
    assert address_problem("127.0.0.2") == "a loopback address"
    assert address_problem("10.9.8.7") == "a private address"
    assert address_problem("fe80::1%eth0") is not None
    assert address_problem("::ffff:10.0.0.1") == "a private address"
