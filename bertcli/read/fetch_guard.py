"""Fetching for a server: only public addresses (bertcli.read.fetch with `public_only`).

A name is resolved once, every address it resolves to is checked, and the connection goes to
the checked address (TLS still verifies the name): a DNS answer that changes between the check
and the connection (DNS rebinding) cannot reach this machine or its network. Each redirect
hop opens its own connection, so it is checked the same way.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

# IPv6 ranges whose last 32 bits are an IPv4 address that the packet may reach:
# IPv4-mapped, IPv4-compatible (deprecated) and the NAT64 well-known prefix.
_EMBEDS_V4 = [ipaddress.ip_network(n) for n in ("::ffff:0:0/96", "::/96", "64:ff9b::/96")]


class BlockedAddress(Exception):
    """A URL whose host is (or resolves to) an address a server must not fetch from."""


def blocked_reason(address: str) -> str | None:
    """Why `address` (an IP literal) is refused, or None when it is a public unicast address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    except ValueError:
        return f"{address} is not an IP address"
    embedded: list[ipaddress.IPv4Address] = []
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in _EMBEDS_V4) and int(ip) > 1:  # not :: or ::1 themselves
            # the packet goes to the IPv4 address: it alone decides (::ffff:8.8.8.8 is public)
            why = blocked_reason(str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
            return f"{ip} embeds {why}" if why else None
        if ip.sixtofour is not None:
            embedded.append(ip.sixtofour)
        if ip.teredo is not None:
            embedded.extend(ip.teredo)
    for inner in embedded:
        reason = blocked_reason(str(inner))
        if reason:
            return f"{ip} embeds {reason}"
    for name in ("loopback", "link_local", "private", "multicast", "unspecified", "reserved"):
        if getattr(ip, f"is_{name}"):
            return f"{ip} is a {name.replace('_', '-')} address"
    if not ip.is_global:  # shared address space (100.64/10) and other special ranges
        return f"{ip} is not a public address"
    return None


def public_address(host: str, port: int) -> str:
    """The address to connect to for `host`: resolved once, and only if every address it
    resolves to is public (BlockedAddress otherwise)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError:
        raise socket.gaierror(f"cannot encode host name {host!r}") from None
    addresses = [str(info[4][0]) for info in infos]
    for address in addresses:
        reason = blocked_reason(address)
        if reason:
            raise BlockedAddress(f"{host} resolves to {reason}" if address != host.strip("[]")
                                 else reason)
    return addresses[0]


def _checked(base: type) -> type:
    class Checked(base):  # type: ignore[valid-type,misc]
        def _new_conn(self) -> Any:
            # urllib3 connects to _dns_host and keeps `host` for the Host header, SNI and
            # certificate checks: point it at the checked address.
            self._dns_host = public_address(self.host, self.port)
            return super()._new_conn()

    Checked.__name__ = f"Public{base.__name__}"
    return Checked


def public_session() -> Any:
    """A requests Session whose connections go only to public addresses, and never through
    a proxy from the environment (a proxy would resolve the names itself)."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class PublicHTTPPool(HTTPConnectionPool):
        ConnectionCls = _checked(HTTPConnection)

    class PublicHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = _checked(HTTPSConnection)

    class PublicAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": PublicHTTPPool, "https": PublicHTTPSPool}

    session = requests.Session()
    session.trust_env = False
    adapter = PublicAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
