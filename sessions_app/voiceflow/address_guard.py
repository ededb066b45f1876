"""Where a project may send requests: never to a private, loopback, link-local or reserved
address unless its origin is in VOICEFLOW_ALLOW_PRIVATE_URLS (by default only the local
sandbox's, and only where it runs: SANDBOX_ENABLED).

A project's base URLs are typed in by people; without this check a stored project could make the
dashboard send its requests, with a key in the Authorization header, to internal services (cloud
metadata at 169.254.169.254, databases, admin consoles). The URL is checked when a project is
saved (`check_base_url`) and again every time a connection is opened (`GuardedTransport`), since
what a name resolves to can change after it was saved.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings

from .errors import ProjectMisconfigured

DEFAULT_PORTS = {"http": 80, "https": 443}


class PrivateAddressRefused(ProjectMisconfigured):
    pass


def _origin(scheme: str, host: str, port: int | None) -> tuple[str, int]:
    host = host.strip("[]").lower().rstrip(".")
    return host, port or DEFAULT_PORTS.get(scheme, 0)


def _allowed_origins() -> set[tuple[str, int]]:
    allowed = set()
    for url in settings.VOICEFLOW_ALLOW_PRIVATE_URLS:
        parts = urlsplit(url)
        if parts.hostname:
            allowed.add(_origin(parts.scheme, parts.hostname, parts.port))
    return allowed


# IPv6 ranges whose last 32 bits are an IPv4 address that a packet reaches in the end: NAT64
# (RFC 6052's well-known and RFC 8215's local-use prefix), IPv4-compatible (deprecated, RFC 4291
# §2.5.5.1) and IPv4-translated (SIIT, RFC 2765) addresses.
_EMBEDDING_LAST_32_BITS = [
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("::/96"),
    ipaddress.IPv6Network("::ffff:0:0:0/96"),
]


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (and would reach through a gateway)."""
    embedded = []
    if ip.ipv4_mapped is not None:
        embedded.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        embedded.append(ip.sixtofour)
    if ip.teredo is not None:
        embedded.extend(ip.teredo)
    if any(ip in network for network in _EMBEDDING_LAST_32_BITS):
        embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return embedded


def _is_public(address: str) -> bool:
    """A globally routable unicast address, judged by what it leads to: an IPv6 address that
    embeds an IPv4 one (mapped, compatible, translated, NAT64, 6to4, Teredo) is as public as
    every IPv4 address it carries."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded:
            return all(_is_public_unicast(inner) for inner in embedded)
    return _is_public_unicast(ip)


def _is_public_unicast(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def _resolve(host: str, port: int) -> list[str]:
    return sorted({info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


def _refusal(where: str, host: str, address: str) -> str:
    shown = host if host == address else f"{host} ({address})"
    return (
        f"{where} points at {shown}, a private, loopback, link-local or reserved address. "
        "The dashboard only sends requests there when VOICEFLOW_ALLOW_PRIVATE_URLS names that "
        "origin (see docs/security.md)."
    )


def check_base_url(url: str, *, what: str = "This URL") -> None:
    """Raise PrivateAddressRefused when `url` leads to a non-public address it may not use.

    A name that does not resolve here is accepted: nothing can be reached through it now, and
    the check made on every connection still stands guard if it resolves later.
    """
    parts = urlsplit(url)
    if not parts.hostname:
        return
    try:
        port = parts.port
    except ValueError:
        return  # an invalid port is the URL validator's to report
    host, port = _origin(parts.scheme, parts.hostname, port)
    if (host, port) in _allowed_origins():
        return
    try:
        addresses = _resolve(host, port)
    except (OSError, UnicodeError):
        return
    for address in addresses:
        if not _is_public(address):
            raise PrivateAddressRefused(_refusal(what, host, address))


class GuardedBackend(httpcore.SyncBackend):
    """Resolves the name itself, checks every address, then connects to a checked address, so
    the address used is the address checked (no second lookup in between)."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options=None,
    ) -> httpcore.NetworkStream:
        name, port = _origin("", host, port)
        if (name, port) in _allowed_origins():
            return super().connect_tcp(host, port, timeout, local_address, socket_options)
        try:
            addresses = _resolve(name, port)
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        for address in addresses:
            if not _is_public(address):
                raise PrivateAddressRefused(_refusal("The project's URL", name, address))
        return super().connect_tcp(addresses[0], port, timeout, local_address, socket_options)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport, opening its connections through GuardedBackend."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        # httpx does not take a network backend as an argument; its connection pool does.
        self._pool._network_backend = GuardedBackend()
