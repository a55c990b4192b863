# -*- test-case-name: sst.test.test_stack -*-
"""
The one place where the SIP stack is assembled from the command-line options: transport,
timers, dialogs, registrar, routing, session-timer rules and the core (the proxy, or the
UA core with the B2BUA).  Each part is constructed with what it needs; nothing is wired by
assignment afterwards.  L{SIPService<sst.tap.SIPService>} runs what L{buildStack} returns;
L{sst.testing} builds the same stack on a test clock with a recording transport.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from twisted.internet.interfaces import IReactorTCP, IReactorTime, IResolver

from sst.auth.authenticator import authenticatorFor
from sst.b2bua.core import B2BUA
from sst.dialogs import DialogTable
from sst.floodlimit import floodLimiterFor
from sst.interfaces import IRouter
from sst.protocol import TransportLayer
from sst.dialogcounter import DialogCounter
from sst.ownership import SINGLE
from sst.proxy.core import Proxy
from sst.registrar import LocationService, Registrar
from sst.routing import ChainRouter, DNSRouter, LocationRouter, StaticRouter
from sst.sessiontimer import ExpiryCounter, SessionTimerHook
from sst.stats import Stats
from sst.timerservice import TimerService
from sst.transaction import TransactionLayer
from sst.ua.core import UserAgent, resolverFor

__all__ = ["Stack", "buildStack"]


@dataclass
class Stack:
    """
    The parts of one SIP stack.

    @ivar proxy: the proxy core, or L{None} in B2BUA mode.
    @ivar ua: the UA core, or L{None} in proxy mode.
    @ivar b2bua: the B2BUA, or L{None} in proxy mode.
    @ivar transactions: the core's transaction layer.
    """

    stats: Stats
    timers: TimerService
    transport: TransportLayer
    transactions: TransactionLayer
    dialogs: DialogTable
    locations: LocationService
    registrar: Registrar
    resolver: IResolver
    dns: DNSRouter
    router: IRouter
    hook: SessionTimerHook
    proxy: Optional[Proxy] = None
    ua: Optional[UserAgent] = None
    b2bua: Optional[B2BUA] = None


def buildStack(config: Mapping[str, Any], clock: IReactorTime, resolver: IResolver,
               transport: Optional[TransportLayer] = None) -> Stack:
    """
    Assemble the stack that C{config} (parsed L{Options<sst.tap.Options>}) describes.

    @param clock: the reactor, or a test's clock: every timer runs on one L{TimerService}
        over it, and it makes the TCP connections when it provides L{IReactorTCP}.
    @param resolver: the DNS resolver for host names (RFC 3263).
    @param transport: the transport layer to use, with its own counters, which become the
        stack's; by default one is made over C{clock}.
    @return: the parts, not started: nothing listens yet.
    """
    timerService = TimerService(clock)
    if transport is None:
        stats = Stats(enabled=not config.get("no-stats", False))
        reactor = clock if IReactorTCP.providedBy(clock) else None
        limiter = floodLimiterFor(config.get("flood-limits"), timerService, stats)
        transport = TransportLayer(timerService, stats, config["max-size"], reactor, limiter,
                                   tls=config.get("tls-contexts"))
    else:
        stats = transport.stats
    dialogs = DialogTable(timerService, config["dialog-timeout"], maxDialogs=config["max-dialogs"])
    locations = LocationService(timerService)
    domains = list(config["domain"]) + [a.host for a in config["listen"]] + ["localhost"]
    registrar = Registrar(locations, domains)
    dns = DNSRouter(resolver)
    router: IRouter
    if config["next-hop"] is not None:
        router = StaticRouter(config["next-hop"])
    else:
        router = ChainRouter([LocationRouter(locations, registrar), dns])
    policy = config["session-timer-policy"]
    hook = SessionTimerHook(policy, stats, maxSE=config.get("max-se"))
    dialogs.addObserver(ExpiryCounter(stats))
    relayNetworks = config.get("relay-network", [])
    authenticator = authenticatorFor(config.get("auth"), timerService, stats,
                                     registrar.servesDomain)
    if config.get("mode", "proxy") == "b2bua":
        b2bua = B2BUA(timerService, transport, dialogs, router, policy, stats,
                      config["b2bua-settings"], registrar=registrar,
                      relayNetworks=relayNetworks, timers=config["timers"],
                      resolve=resolverFor(dns), maxTransactions=config["max-transactions"],
                      ownership=config.get("ownership", SINGLE),
                      authenticator=authenticator)
        dialogs.addObserver(DialogCounter(stats))
        return Stack(stats, timerService, transport, b2bua.ua.transactions, dialogs, locations,
                     registrar, resolver, dns, router, hook, ua=b2bua.ua, b2bua=b2bua)
    proxy = Proxy(timerService, transport, dialogs, router, stats, hook=hook, registrar=registrar,
                  uriRouter=dns, relayNetworks=relayNetworks, timers=config["timers"],
                  maxTransactions=config["max-transactions"],
                  byeOnExpiry=bool(config.get("bye-on-expiry")), authenticator=authenticator)
    return Stack(stats, timerService, transport, proxy.transactions, dialogs, locations, registrar,
                 resolver, dns, router, hook, proxy=proxy)
