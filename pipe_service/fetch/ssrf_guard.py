"""The SSRF guard: is this URL safe to fetch, and at which address exactly?

Every remote URL is hostile until proven otherwise. :func:`validate_url` parses the URL the way
the HTTP client will (``httpx.URL``: no parser differential), refuses what a browser-style parser
would read differently (userinfo, backslashes, numeric IPv4 shorthands such as ``2130706433``,
``0x7f.1``, ``0177.0.0.1`` or ``127.1``, IPv6 zone ids), then resolves the host through an
injectable :class:`Resolver` and refuses the URL unless **every** A/AAAA record is a public
address. The answer is a :class:`ValidatedTarget` naming the one address the connection must be
pinned to (:mod:`pipe_service.fetch.pinned_transport`), so a resolver that answers differently on
a second lookup (DNS rebinding) is never asked again. A resolution failure is unsafe.

Synopsis::

    policy = UrlPolicy(http_hosts=frozenset({"assets.internal:8080"}))
    try:
        target = await validate_url(url, policy, SystemResolver())
    except UnsafeUrlError as exc:
        log.warning("refused %s: %s", exc.where, exc.reason)
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from dataclasses import dataclass, field
from typing import Final, Protocol

import httpx
import trio

__all__ = [
    "IPAddress",
    "Resolver",
    "SystemResolver",
    "UnsafeUrlError",
    "UrlPolicy",
    "ValidatedTarget",
    "address_refusal",
    "validate_url",
]

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Hostnames of cloud instance-metadata services (their addresses are refused anyway; the names
# are refused first so the log says what was attempted).
METADATA_HOSTS: Final = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.com",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.253",  # AWS DNS
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (legacy)
        "fd00:ec2::254",  # AWS IMDS over IPv6
    )
)
_CGNAT: Final = ipaddress.ip_network("100.64.0.0/10")
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
_NUMERIC_LABEL: Final = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


class UnsafeUrlError(Exception):
    """The URL was refused before any connection; ``reason`` is a stable short code.

    ``where`` names the scheme, host and port only (never the path, query or userinfo, which
    may hold secrets), so it is safe to log and to show.
    """

    def __init__(self, reason: str, where: str, detail: str = "") -> None:
        super().__init__(f"{where}: {reason}" + (f" ({detail})" if detail else ""))
        self.reason = reason
        self.where = where
        self.detail = detail


class Resolver(Protocol):
    """Resolves a host to all its addresses; raises :class:`OSError` when it cannot."""

    async def resolve(self, host: str, port: int) -> list[IPAddress]: ...


class SystemResolver:
    """The operating system's resolver (``getaddrinfo``), A and AAAA records both."""

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses: list[IPAddress] = []
        for _family, _type, _proto, _canonname, sockaddr in infos:
            # A scoped IPv6 answer ("fe80::1%eth0") is link-local; keep the address part.
            text = str(sockaddr[0]).split("%", 1)[0]
            address = ipaddress.ip_address(text)
            if address not in addresses:
                addresses.append(address)
        return addresses


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """Which URLs may be fetched at all.

    ``http_hosts``: ``host`` or ``host:port`` entries allowed over plain ``http`` (everything
    else must be ``https``). ``trusted_hosts``: ``host`` or ``host:port`` entries whose addresses
    are not checked (an internal asset server the admin vouches for); they are still pinned.
    ``enabled=False`` turns the address check off for every host (schemes still apply).
    """

    http_hosts: frozenset[str] = field(default_factory=frozenset)
    trusted_hosts: frozenset[str] = field(default_factory=frozenset)
    enabled: bool = True
    dns_timeout_s: float = 5.0
    """A lookup that takes longer counts as a DNS failure (unsafe)."""


@dataclass(frozen=True, slots=True)
class ValidatedTarget:
    """A URL that passed the guard, and the address its connection is pinned to."""

    url: httpx.URL
    host: str
    """The host as the HTTP client sends it (ASCII, IDNA-encoded; IPv6 without brackets)."""
    port: int
    address: IPAddress
    addresses: tuple[IPAddress, ...]


def address_refusal(address: IPAddress) -> str | None:
    """Why ``address`` must not be connected to, or ``None`` when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return "ipv4_mapped"
        if address.sixtofour is not None:
            inner = address_refusal(address.sixtofour)
            return f"6to4_{inner}" if inner else None
        if address.teredo is not None:
            return "teredo"
        if address in _NAT64:
            inner = address_refusal(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
            return f"nat64_{inner}" if inner else None
    if address in METADATA_ADDRESSES:
        return "cloud_metadata"
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link_local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "cgnat"
    if address.is_reserved:  # before is_private, which also covers 240.0.0.0/4
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "not_global"
    return None


async def validate_url(url: str, policy: UrlPolicy, resolver: Resolver) -> ValidatedTarget:
    """Check ``url`` against ``policy`` and resolve it; raise :class:`UnsafeUrlError` if unsafe.

    The refusal is logged (reason and host only) before it is raised.
    """
    try:
        return await _validate(url, policy, resolver)
    except UnsafeUrlError as exc:
        log.warning("remote URL refused: %s (%s)", exc.reason, exc.where)
        raise


async def _validate(url: str, policy: UrlPolicy, resolver: Resolver) -> ValidatedTarget:
    if any(char in url for char in "\\\t\r\n ") or any(ord(char) < 0x20 for char in url):
        raise UnsafeUrlError("malformed_url", "<url>", "backslash, space or control character")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        raise UnsafeUrlError("malformed_url", "<url>", str(exc)[:120]) from None
    scheme = parsed.scheme
    if scheme not in _DEFAULT_PORTS:
        raise UnsafeUrlError("scheme_not_allowed", f"{scheme[:16]}:", "only https (and http)")
    host = parsed.raw_host.decode("ascii", "replace").lower().rstrip(".")
    if not host:
        raise UnsafeUrlError("no_host", f"{scheme}://")
    port = parsed.port if parsed.port is not None else _DEFAULT_PORTS[scheme]
    where = f"{scheme}://{_bracketed(host)}:{port}"
    if not 1 <= port <= 65535:
        raise UnsafeUrlError("bad_port", where)
    if parsed.userinfo:
        # "https://trusted.example@169.254.169.254/" reads as the first host to a human.
        raise UnsafeUrlError("userinfo_in_url", where)
    if scheme == "http" and not _listed(policy.http_hosts, host, port):
        raise UnsafeUrlError("plain_http_not_allowed", where, "host not in the http allowlist")
    if "%" in host:
        # A percent-encoded name or an IPv6 zone id ("fe80::1%25eth0"): parsers disagree.
        raise UnsafeUrlError("percent_in_host", where)
    if host in METADATA_HOSTS or host == "localhost" or host.endswith(".localhost"):
        reason = "loopback" if "localhost" in host else "cloud_metadata"
        raise UnsafeUrlError(reason, where, "refused host name")
    literal = _ip_literal(host)
    if literal is None and _looks_numeric_ipv4(host):
        raise UnsafeUrlError("ambiguous_ipv4_form", where, "write IPv4 as a dotted quad")
    check = policy.enabled and not _listed(policy.trusted_hosts, host, port)
    if literal is not None:
        addresses = [literal]
    else:
        addresses = []
        with trio.move_on_after(policy.dns_timeout_s) as lookup:
            try:
                addresses = await resolver.resolve(host, port)
            except (OSError, UnicodeError) as exc:
                raise UnsafeUrlError("dns_failure", where, type(exc).__name__) from None
        if lookup.cancelled_caught:
            raise UnsafeUrlError("dns_failure", where, f"no answer in {policy.dns_timeout_s:g}s")
        if not addresses:
            raise UnsafeUrlError("dns_failure", where, "no A/AAAA records")
    if check:
        for address in addresses:
            refusal = address_refusal(address)
            if refusal is not None:
                raise UnsafeUrlError(refusal, where, f"resolves to {address}")
    return ValidatedTarget(
        url=parsed,
        host=host,
        port=port,
        address=addresses[0],
        addresses=tuple(addresses),
    )


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _looks_numeric_ipv4(host: str) -> bool:
    # inet_aton() and browsers read "2130706433", "0x7f.1", "0177.0.0.1" and "127.1" as
    # 127.0.0.1; a resolver may too. Only the canonical dotted quad is accepted.
    labels = host.split(".")
    return 1 <= len(labels) <= 4 and all(_NUMERIC_LABEL.match(label) for label in labels)


def _listed(entries: frozenset[str], host: str, port: int) -> bool:
    return host in entries or f"{_bracketed(host)}:{port}" in entries


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host
