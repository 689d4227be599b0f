"""Where a webhook may go: an https address whose host is (and resolves to) a public address.

Checked when a subscription is saved, and again before every delivery on the address the
name resolves to then; the delivery connects to that very address (the name goes along as
the Host header and TLS server name), so a DNS answer that changes between the check and the
connection cannot point a hook inside. `webhooks_allow_http` and `webhooks_allow_private`
(tests, an intranet on purpose) lift the two rules. The resolver is a parameter: tests hand in
a stub instead of the system's.
"""

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from partnerflow.refusals import invalid
from partnerflow.settings import Settings

# host name -> the addresses it resolves to (textual IPv4 or IPv6)
Resolver = Callable[[str], list[str]]
MAX_URL_LENGTH = 2000


def system_resolver(host: str) -> list[str]:
    """The system's answer (getaddrinfo): every address, in its order."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class Unresolvable(Exception):
    """The host name did not resolve (now): a delivery tries again later."""


@dataclass(frozen=True)
class Destination:
    """A checked address: where to connect (`address`), and what the request names."""

    url: str
    scheme: str
    host: str
    port: int
    address: str
    # the path and query, as the request line carries them
    target: str

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"

    @property
    def address_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{address}:{self.port}{self.target}"


def checked_url(url: str, settings: Settings) -> SplitResult:
    """The URL's parts if its form is acceptable (no resolving); else 422 naming `url`."""
    if len(url) > MAX_URL_LENGTH:
        raise invalid("url", f"the address is longer than {MAX_URL_LENGTH} characters")
    if not url or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise invalid("url", "the address is empty or contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise invalid("url", f"not a valid address: {error}") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise invalid("url", "not a web address: it must look like https://host/path")
    if parts.scheme == "http" and not settings.webhooks_allow_http:
        raise invalid("url", "only https addresses may receive webhooks")
    if parts.username is not None or parts.password is not None:
        raise invalid("url", "the address may not carry a user name or password")
    if parts.fragment:
        raise invalid("url", "the address may not have a #fragment")
    if port == 0:
        raise invalid("url", "not a valid address: port 0")
    try:
        # the Host header and the TLS server name carry the name in ASCII (IDNA)
        parts.hostname.encode("idna")
    except UnicodeError:
        raise invalid("url", "not a valid host name") from None
    return parts


def destination(url: str, settings: Settings, resolve: Resolver) -> Destination:
    """The checked destination of `url`, resolved now. Refused (`invalid`, naming `url`) if
    the form or the address is not allowed; `Unresolvable` if the name does not resolve."""
    parts = checked_url(url, settings)
    host = (parts.hostname or "").encode("idna").decode("ascii")
    addresses = [host] if _is_address(host) else _resolved(host, resolve)
    if not settings.webhooks_allow_private:
        for address in addresses:
            problem = address_problem(address)
            if problem:
                raise invalid("url", f"the host is or resolves to {problem}")
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    return Destination(
        url=url,
        scheme=parts.scheme,
        host=host,
        port=parts.port or (443 if parts.scheme == "https" else 80),
        address=addresses[0],
        target=target,
    )


def address_problem(address: str) -> str | None:
    """Why a hook may not go to this address (loopback, private, …), or None if it is public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for flag, words in (
        (ip.is_loopback, "a loopback address"),
        (ip.is_private, "a private address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "an address that is not public"),
    ):
        if flag:
            return words
    return None


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _resolved(host: str, resolve: Resolver) -> list[str]:
    try:
        addresses = [a for a in resolve(host) if _is_address(a)]
    except (OSError, UnicodeError) as error:
        raise Unresolvable(f"the host name does not resolve: {error}") from None
    if not addresses:
        raise Unresolvable("the host name does not resolve")
    return addresses
