# -*- test-case-name: sst.test.test_relay -*-
"""
The relay rule, one for both cores: sst forwards a call only for its own domains and
addresses, for callers in C{--relay-network}, or to a static C{--next-hop}; anything else
would make it an open relay (the proxy answers 403; the B2BUA places no B-leg).
"""
from __future__ import annotations

import ipaddress
from typing import Callable, Optional, Sequence, Union

from sst.address import Address
from sst.headers import URI
from sst.message import Request

__all__ = ["IPNetwork", "RelayRule", "inNetworks"]

#: An IPv4 or IPv6 network, as in C{--relay-network}.
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def inNetworks(host: str, networks: Sequence[IPNetwork]) -> bool:
    """
    @return: whether the address C{host} is in one of C{networks} (an IPv4-mapped IPv6
        address counts as its IPv4 address; a host name is in none).
    """
    if not networks:
        return False
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


class RelayRule:
    """
    Whether forwarding an out-of-dialog request would make sst an open relay.

    @ivar networks: the source networks allowed to relay anywhere (C{--relay-network}).
    """

    def __init__(self, networks: Sequence[IPNetwork], isOurs: Callable[[str], bool],
                 staticNextHop: bool = False) -> None:
        """
        @param networks: see L{networks}.
        @param isOurs: whether a host (lower case, without brackets or a trailing dot) is
            one of our addresses or served domains.
        @param staticNextHop: whether every request goes to a C{--next-hop}: then nothing is
            relayed anywhere else, and nothing is denied.
        """
        self.networks: tuple[IPNetwork, ...] = tuple(networks)
        self._isOurs = isOurs
        self._staticNextHop = staticNextHop

    def denied(self, request: Request, uri: Optional[URI] = None) -> bool:
        """
        It would be, unless there is a static next hop, the Request-URI (C{uri}, by default
        the request's) is a SIP URI of one of our domains or addresses (its C{maddr} too,
        which would otherwise send it anywhere), or the request comes from one of
        L{networks}.

        @param request: an out-of-dialog request with no Route left to follow.
        """
        if self._staticNextHop:
            return False
        if uri is None:
            uri = request.requestURI()
        if uri.isSIP and all(self.isOurs(host) for host in (uri.host, uri.params.get("maddr"))
                             if host is not None):
            return False
        source = request.source
        return not (isinstance(source, Address) and inNetworks(source.host, self.networks))

    def isOurs(self, host: str) -> bool:
        """
        @return: whether C{host}, as written in a URI, is one of ours.
        """
        return self._isOurs(host.strip("[]").lower().rstrip("."))
