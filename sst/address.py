# -*- test-case-name: sst.test.test_address -*-
"""
Where SIP messages go: a transport name, a host and a port.
"""
from __future__ import annotations

from typing import NamedTuple

from sst.headers import URI

__all__ = ["Address", "addressForURI", "DEFAULT_PORTS"]

#: Default ports per URI scheme (RFC 3261 section 19.1.2).
DEFAULT_PORTS = {"sip": 5060, "sips": 5061}


class Address(NamedTuple):
    """
    A transport address.

    @ivar transport: C{"udp"}, C{"tcp"} or C{"tls"}.
    @ivar host: an IPv4 or IPv6 address (no brackets) or a host name.
    @ivar port: the port number.
    """

    transport: str
    host: str
    port: int

    @property
    def family(self) -> str:
        """
        C{"6"} for an IPv6 host, C{"4"} otherwise (an IPv4 address or a host name): the
        address family of the socket that reaches it, as the transport layer names them.
        """
        return "6" if ":" in self.host else "4"

    def hostport(self) -> str:
        """
        @return: C{host:port}, with IPv6 hosts bracketed.
        """
        host = "[%s]" % (self.host,) if ":" in self.host else self.host
        return "%s:%d" % (host, self.port)


def addressForURI(uri: URI, defaultTransport: str = "udp") -> Address:
    """
    The address a request for C{uri} goes to, without DNS: the C{maddr} or host, the port (or
    the default: 5061 for C{sips} and for C{transport=tls}, else 5060) and the C{transport}
    parameter (C{udp} unless said otherwise).

    A C{sips} URI, whatever its C{transport} parameter, and a C{sip} URI with
    C{transport=tls} lead to TLS (RFC 3261 section 26.2.2, RFC 5630 section 3.1.3).
    """
    transport = (uri.params.get("transport") or defaultTransport).lower()
    if uri.scheme == "sips" or transport == "tls":
        transport = "tls"
    elif transport not in ("udp", "tcp"):
        transport = defaultTransport
    host = uri.params.get("maddr") or uri.host
    if uri.port is not None:
        port = uri.port
    else:
        port = DEFAULT_PORTS["sips"] if transport == "tls" else DEFAULT_PORTS.get(uri.scheme, 5060)
    return Address(transport, host, port)
