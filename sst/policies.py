# -*- test-case-name: sst.test.test_policies -*-
"""
Session-timer policy plugins: how sst finds them and the two it ships.

A plugin is an object providing L{ISessionTimerPolicyFactory} in a module of the
L{sst.plugins} package (or of any C{sst/plugins/} directory on C{sys.path}, see
L{twisted.plugin.pluginPackagePaths}). C{twistd sst --policy NAME} picks it.
"""
from __future__ import annotations

import ipaddress
from typing import Union

from twisted.plugin import IPlugin
from zope.interface import implementer

from sst.address import Address
from sst.interfaces import ISessionTimerPolicy, ISessionTimerPolicyFactory
from sst.message import Request
from sst.sessiontimer import DefaultSessionTimerPolicy, PolicySettings

__all__ = [
    "DefaultPolicyFactory",
    "NetworkPolicy",
    "NetworkPolicyFactory",
    "findPolicies",
]

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


@implementer(IPlugin, ISessionTimerPolicyFactory)
class DefaultPolicyFactory:
    """
    The seed module's behaviour: every initial INVITE is timed, with the command line's
    C{--min-se}, C{--session-expires} and C{--no-reject-too-small}.
    """

    name = "default"
    description = "time every initial INVITE (the seed module's sst_flag set for all)"

    def buildPolicy(self, settings: PolicySettings) -> ISessionTimerPolicy:
        return DefaultSessionTimerPolicy(settings.minSE, settings.sessionExpires,
                                         settings.rejectTooSmall)


@implementer(ISessionTimerPolicy)
class NetworkPolicy(DefaultSessionTimerPolicy):
    """
    Time only the calls whose INVITE arrives from the given networks; other calls are
    forwarded untouched and their dialogs keep the default lifetime.
    """

    def __init__(self, networks: list[Network], minSE: int, sessionExpires: int,
                 rejectTooSmall: bool) -> None:
        super().__init__(minSE, sessionExpires, rejectTooSmall)
        self.networks = networks

    def isTimed(self, request: Request) -> bool:
        if not super().isTimed(request):
            return False
        source = request.source
        if not isinstance(source, Address):
            return False
        try:
            address = ipaddress.ip_address(source.host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


@implementer(IPlugin, ISessionTimerPolicyFactory)
class NetworkPolicyFactory:
    """
    C{--policy networks --policy-option networks=10.0.0.0/8,2001:db8::/32}.
    """

    name = "networks"
    description = "time only INVITEs from the networks in --policy-option networks=CIDR,..."

    def buildPolicy(self, settings: PolicySettings) -> ISessionTimerPolicy:
        text = settings.options.get("networks")
        if not text:
            raise ValueError("the networks policy needs --policy-option networks=CIDR[,CIDR...]")
        networks: list[Network] = []
        for item in text.split(","):
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise ValueError("bad network %r in --policy-option networks" % (item,))
        return NetworkPolicy(networks, settings.minSE, settings.sessionExpires,
                             settings.rejectTooSmall)


def findPolicies() -> dict[str, ISessionTimerPolicyFactory]:
    """
    @return: every policy plugin found, by name.
    """
    from twisted.plugin import getPlugins

    import sst.plugins

    found: dict[str, ISessionTimerPolicyFactory] = {}
    for plugin in getPlugins(ISessionTimerPolicyFactory, sst.plugins):
        found.setdefault(plugin.name, plugin)
    return found
