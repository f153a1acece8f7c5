"""Whether we may fetch a URL, and the HTTP client that only connects where we may: the one place that decides.

We fetch only http and https URLs whose every address (as `getaddrinfo` gives them) is a public one, so a URL
from outside (a result URL, a redirect, an upload URL) cannot make us reach our own network, the cloud's
metadata service or a service on loopback. Hosts named in OUTBOUND_ALLOW_HOSTS (`host` or `host:port`) are
allowed anyway: fakes on loopback in tests, a private deployment's own services. One error type, OutboundRefused.

The check is made when the connection is made, on the addresses we then connect to (the client's network
backend resolves once, checks, and connects to those very addresses), so a name that answers a public address
to a first lookup and a private one to the next (DNS rebinding) gains nothing. What is left: `url_check` alone
(an image URL we pass on) decides at that moment only, and whoever fetches later resolves again; a connection
kept alive in the pool was checked under the allow-list of when it was opened; a lookup has no time limit.
"""

import contextlib
import ipaddress
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings

SCHEMES = ("http", "https")
MAX_REDIRECTS = 5
DEFAULT_PORTS = {"http": 80, "https": 443}
# Not covered by `is_global` in every Python: the shared address space of carrier-grade NAT.
CGNAT = ipaddress.ip_network("100.64.0.0/10")
# NAT64's well-known prefix carries an IPv4 address in its last 32 bits.
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundRefused(Exception):
    """A URL we will not fetch or a host we will not connect to; the message says why (never any answer's bytes)."""


def is_public(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for an address on the public internet: not private, loopback, link-local, multicast, reserved,
    unspecified, CGNAT, nor an IPv6 form (IPv4-mapped, NAT64, 6to4) of such an IPv4 address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    if ip.version == 6:
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
        if embedded is not None and not is_public(embedded):
            return False
        if ip.is_site_local:
            return False
    if ip.version == 4 and ip in CGNAT:
        return False
    return ip.is_global and not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


def _host_key(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _allowed_entries() -> set[tuple[str, int | None]]:
    """OUTBOUND_ALLOW_HOSTS as (host, port or None for any port); read at each call, so tests may change it."""
    value = getattr(settings, "OUTBOUND_ALLOW_HOSTS", ()) or ()
    if isinstance(value, str):
        value = value.split(",")
    entries = set()
    for raw in value:
        entry = str(raw).strip()
        if not entry:
            continue
        host, port = entry, None
        if entry.startswith("["):  # [v6] or [v6]:port
            host, _, rest = entry[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else None
        elif entry.count(":") == 1:  # host:port (a bare IPv6 address has more colons)
            host, port = entry.split(":")
        try:
            entries.add((_host_key(host), int(port) if port else None))
        except ValueError:
            continue  # an unreadable entry allows nothing
    return entries


def is_allowed(host: str, port: int | None) -> bool:
    """True when OUTBOUND_ALLOW_HOSTS names this host (as written in the URL), on any port or on this one."""
    entries = _allowed_entries()
    key = _host_key(host)
    return (key, None) in entries or (key, port) in entries


def _resolve(host: str, port: int) -> list[tuple]:
    """getaddrinfo's entries for host:port; OSError when the name has none (which may pass: a resolver's hiccup)."""
    try:
        found = socket.getaddrinfo(_host_key(host), port, type=socket.SOCK_STREAM)
    except (UnicodeError, ValueError) as exc:  # a name IDNA cannot encode, a NUL
        raise OSError(f"not a host name: {exc}") from None
    if not found:
        raise OSError("no address")
    return found


def _addresses_check(host: str, port: int, found: list[tuple]) -> None:
    if is_allowed(host, port):
        return
    for *_, sockaddr in found:
        if not is_public(sockaddr[0]):
            where = "" if _host_key(host) == sockaddr[0] else f" ({sockaddr[0]})"
            raise OutboundRefused(f"{host} is not on a public address{where}, so it is not fetched.")


def host_check(host: str, port: int) -> None:
    """Whether we may connect to host:port: an allowed host passes as it is; any other must resolve, to public
    addresses only. Raises OutboundRefused with the reason (a name that does not resolve included)."""
    if not host:
        raise OutboundRefused("The URL names no host.")
    if is_allowed(host, port):
        return
    try:
        found = _resolve(host, port)
    except OSError:
        raise OutboundRefused(f"The name {host!r} could not be resolved.") from None
    _addresses_check(host, port, found)


def _url_parts(url: str) -> tuple[str, int]:
    """The host and port of an http(s) URL, or OutboundRefused; no lookup."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise OutboundRefused("The URL is not readable.") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise OutboundRefused(f"Only http and https URLs are fetched, not {scheme or 'this'!r} ones.")
    if not parts.hostname:
        raise OutboundRefused("The URL names no host.")
    return parts.hostname, port or DEFAULT_PORTS[scheme]


def url_check(url: str) -> None:
    """Whether we may fetch `url`: http or https, and a host in OUTBOUND_ALLOW_HOSTS or one whose every address
    is public. Raises OutboundRefused with the reason; returns None when the URL may be fetched."""
    host, port = _url_parts(url)
    host_check(host, port)


# --- The client: every connection it makes goes through host_check ---


class _CheckedBackend(httpcore.NetworkBackend):
    """Resolves once, checks every address, and connects to one of those addresses (never resolving again)."""

    def __init__(self):
        self._sockets = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        # getaddrinfo has no timeout of its own: a slow resolver can hold a call longer than `timeout`.
        try:
            found = _resolve(host, port)
        except OSError as exc:
            # Perhaps passing (a resolver's hiccup): an httpx ConnectError, as when no connection could be made.
            raise httpcore.ConnectError(f"{host} could not be resolved ({exc})") from None
        _addresses_check(host, port, found)
        last_error = None
        for *_, sockaddr in found:
            try:
                return self._sockets.connect_tcp(sockaddr[0], port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        raise last_error

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise OutboundRefused("Unix sockets are not fetched.")

    def sleep(self, seconds):
        self._sockets.sleep(seconds)


class _CheckedTransport(httpx.HTTPTransport):
    def __init__(self, *, limits: httpx.Limits):
        super().__init__(limits=limits)
        # httpx has no setting for the network backend: the pool it built is replaced by the same pool over ours
        # (httpx is pinned in requirements.txt; test_outbound checks the refusal happens through this client).
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_CheckedBackend(),
        )


def client(*, limits: httpx.Limits | None = None) -> httpx.Client:
    """An httpx client that connects only to public addresses (or allowed hosts) and follows no redirect itself.

    It takes no proxy from the environment: a proxy would resolve the names itself, past our check.
    A refused connection raises OutboundRefused (not an httpx error).
    """
    return httpx.Client(transport=_CheckedTransport(limits=limits or httpx.Limits()), follow_redirects=False)


@contextlib.contextmanager
def stream(
    http: httpx.Client, url: str, *, headers=None, timeout=None, max_redirects: int = MAX_REDIRECTS
) -> Iterator[httpx.Response]:
    """GET `url` with a client from `client()`, following redirects by hand (at most `max_redirects`), each hop
    an http(s) URL whose connection is checked like the first; yields the final answer, unread.

    Raises OutboundRefused for a hop we may not fetch, httpx.TooManyRedirects past the last one."""
    for _ in range(max_redirects + 1):
        _url_parts(url)
        request = http.build_request("GET", url, headers=headers, timeout=timeout)
        response = http.send(request, stream=True, follow_redirects=False)
        if not response.is_redirect:
            try:
                yield response
            finally:
                response.close()
            return
        response.close()
        try:
            url = str(response.url.join(response.headers["Location"]))
        except (httpx.InvalidURL, ValueError):
            raise OutboundRefused("A redirect pointed to an unreadable URL.") from None
    raise httpx.TooManyRedirects(f"More than {max_redirects} redirects.", request=request)
