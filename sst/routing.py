# -*- test-case-name: sst.test.test_routing -*-
"""
Where initial out-of-dialog requests go: L{IRouter} implementations.

  - L{StaticRouter} sends everything to one next hop.
  - L{LocationRouter} retargets requests for our own domains to the contacts
    registered with the L{Registrar<sst.registrar.Registrar>}.
  - L{DNSRouter} finds the server of a Request-URI with DNS (a subset of RFC
    3263: SRV, then A and AAAA; no NAPTR).
  - L{ChainRouter} asks several routers in turn.

Every router's L{Deferred} fires with a list of L{Target}s, possibly empty,
and never fails.
"""

from __future__ import annotations

import socket
from typing import Any, Callable, Optional, Sequence

from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.defer import Deferred, TimeoutError, fail, succeed
from twisted.internet.interfaces import IResolver
from twisted.logger import Logger
from twisted.names import dns, error
from twisted.names.common import ResolverBase
from twisted.names.dns import Query
from zope.interface import implementer

from sst.address import Address, addressForURI
from sst.headers import SIPParseError, URI, parseURI
from sst.interfaces import IRouter
from sst.message import Request
from sst.registrar import LocationService, Registrar, aorForURI
from sst.values import Target

__all__ = [
    "Target",
    "StaticRouter",
    "LocationRouter",
    "DNSRouter",
    "ChainRouter",
    "DEFAULT_DNS_TIMEOUT",
]

#: The retry timeouts of one DNS query, in seconds (15s in all, well within
#: the 32s of timer B).
DEFAULT_DNS_TIMEOUT: tuple[int, ...] = (1, 3, 11)

#: The failures of a DNS lookup that mean "no answer", logged as an ordinary
#: line without a traceback.  Twisted's resolver fails with a plain
#: L{TimeoutError} (not L{error.DNSQueryTimeoutError}) when every server timed
#: out.
_DNS_ERRORS = (
    error.DomainError,
    error.AuthoritativeDomainError,
    TimeoutError,
    error.ResolverError,
)

#: Why a lookup failed, for the log line, by the type of its failure (the
#: first that matches).
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (error.DNSNameError, "no such domain (NXDOMAIN)"),
    (error.DNSServerError, "server failure (SERVFAIL)"),
    (error.DNSQueryRefusedError, "query refused"),
    (error.DNSFormatError, "format error"),
    (TimeoutError, "timed out"),
)


def _reason(failure: Exception) -> str:
    """
    @return: why a DNS lookup failed, in a few words.
    """
    for kind, reason in _REASONS:
        if isinstance(failure, kind):
            return reason
    return type(failure).__name__


def _isDNSName(host: str) -> bool:
    """
    @return: whether C{host} can be looked up in DNS: it encodes to a name of at
        most 253 octets whose labels are 1 to 63 octets (RFC 1035 section 2.3.4).
    """
    try:
        name = dns.domainString(host)
    except (UnicodeError, ValueError):
        return False
    return len(name.rstrip(b".")) <= 253


@implementer(IRouter)
class StaticRouter:
    """
    Sends every request to one next hop, keeping its Request-URI.

    @ivar nextHop: the next hop's URI.
    """

    def __init__(self, nextHop: URI) -> None:
        """
        @param nextHop: the next hop's URI; its host, port, C{transport} and
            C{maddr} give the address (without DNS).
        """
        self.nextHop = nextHop
        self._target = Target(addressForURI(nextHop))

    @property
    def target(self) -> Target:
        """
        The one target every request goes to.
        """
        return self._target

    def route(self, request: Request) -> Deferred[list[Target]]:
        """
        See L{IRouter.route}.

        @return: the next hop.
        """
        return succeed([self._target])


@implementer(IRouter)
class LocationRouter:
    """
    Retargets requests for the registrar's domains to the registered contacts
    of their Request-URI (RFC 3261 section 16.5).

    @ivar locations: the location service looked in.
    @ivar registrar: tells which domains are ours.
    """

    def __init__(self, locations: LocationService, registrar: Registrar) -> None:
        """
        @param locations: the location service looked in.
        @param registrar: tells which domains are ours.
        """
        self.locations = locations
        self.registrar = registrar

    def route(self, request: Request) -> Deferred[list[Target]]:
        """
        See L{IRouter.route}.

        @return: one target per current SIP binding of the Request-URI's
            address-of-record, newest first, each with the contact as its
            Request-URI; none when the Request-URI is not in one of our
            domains or has no bindings.
        """
        try:
            uri = request.requestURI()
        except SIPParseError:
            return succeed([])
        if not uri.isSIP or not self.registrar.servesDomain(uri.host):
            return succeed([])
        targets: list[Target] = []
        for binding in self.locations.lookup(aorForURI(uri)):
            try:
                contact = parseURI(binding.contact)
            except SIPParseError:
                continue
            if contact.isSIP:
                targets.append(Target(addressForURI(contact), binding.contact))
        return succeed(targets)


@implementer(IRouter)
class DNSRouter:
    """
    Finds the servers of a Request-URI with DNS, after RFC 3263 section 4
    without NAPTR.

    A numeric host, or any host when there is no resolver, is used as it is.
    A host name with an explicit port is looked up with A then AAAA.  Any
    other host name is first looked up with SRV (C{_sips._tcp} for C{sips}
    URIs, C{_sip._tcp} for C{transport=tcp}, C{_sip._udp} otherwise), the
    records ordered by priority then by decreasing weight, and each record's
    target looked up with A then AAAA; when there is no SRV record the host
    itself is looked up with A then AAAA, with the scheme's default port.
    A C{maddr} parameter stands for the host.

    A TLS target (a C{sips} URI, C{transport=tls}) keeps its host name, the URI's
    or the SRV record's, for the connection to look up: the server's certificate is
    checked against that name (RFC 5922 section 4), not against an address.

    @see: U{https://www.rfc-editor.org/rfc/rfc3263#section-4}
    """

    _log = Logger()

    def __init__(
        self, resolver: Optional[IResolver], timeout: Sequence[int] = DEFAULT_DNS_TIMEOUT
    ) -> None:
        """
        @param resolver: the DNS resolver, or L{None} to use no DNS: targets
            then keep the host name, for the transport to resolve.
        @param timeout: the retry timeouts of each query, in seconds.
        """
        self._resolver = resolver
        self._timeout = tuple(timeout)

    def route(self, request: Request) -> Deferred[list[Target]]:
        """
        See L{IRouter.route}.

        @return: the servers of the Request-URI, none when it is not a SIP
            URI or DNS has no answer.
        """
        try:
            uri = request.requestURI()
        except SIPParseError:
            return succeed([])
        return self.resolve(uri)

    def resolve(self, uri: URI) -> Deferred[list[Target]]:
        """
        Find the servers of a SIP URI (a Request-URI, a Route or a next hop).

        @return: a L{Deferred} firing with the targets (their C{requestURI}
            L{None}), in order of preference, without duplicates; none when
            C{uri} is not a SIP URI or DNS has no answer.  It does not fail.
        """
        if not uri.isSIP:
            return succeed([])
        return Deferred.fromCoroutine(self._resolve(uri))

    async def _resolve(self, uri: URI) -> list[Target]:
        address = addressForURI(uri)
        host = address.host
        if self._resolver is None or isIPAddress(host) or isIPv6Address(host):
            return [Target(address)]
        if not _isDNSName(host):
            self._log.info("Not looking {host} up: not a valid DNS name", host=host)
            return []
        if uri.port is not None:
            return await self._addresses(host, address.port, address.transport)
        if address.transport == "tls":
            # RFC 3263 section 4.1: TLS (a sips URI, or transport=tls) is _sips._tcp.
            service = "_sips._tcp."
        elif address.transport == "tcp":
            service = "_sip._tcp."
        else:
            service = "_sip._udp."
        srvName = service + host
        answers = await self._lookup("SRV", self._resolver.lookupService, srvName)
        records: list[dns.Record_SRV] = []
        for rr in answers:
            if isinstance(rr.payload, dns.Record_SRV):
                records.append(rr.payload)
        if not records:
            return await self._addresses(host, address.port, address.transport)
        records.sort(key=lambda srv: (srv.priority, -srv.weight))
        targets: list[Target] = []
        for srv in records:
            name = srv.target.name.decode("ascii", "replace")
            if name in ("", "."):
                # "The service is decidedly not available at this domain"
                # (RFC 2782).
                continue
            for target in await self._addresses(name, srv.port, address.transport):
                if target not in targets:
                    targets.append(target)
        return targets

    async def _addresses(self, name: str, port: int, transport: str) -> list[Target]:
        """
        Look C{name} up with A then AAAA.

        @return: one target per address, IPv4 first.
        """
        assert self._resolver is not None
        if transport == "tls":
            return [Target(Address(transport, name, port))]
        # Send both queries before waiting for either.
        queries = [
            ("A", self._query(self._resolver.lookupAddress, name)),
            ("AAAA", self._query(self._resolver.lookupIPV6Address, name)),
        ]
        hosts: list[str] = []
        for kind, query in queries:
            for rr in await self._records(kind, name, query):
                payload = rr.payload
                if isinstance(payload, dns.Record_A):
                    host = payload.dottedQuad()
                elif isinstance(payload, dns.Record_AAAA):
                    host = socket.inet_ntop(socket.AF_INET6, payload.address)
                else:
                    continue
                if host not in hosts:
                    hosts.append(host)
        return [Target(Address(transport, host, port)) for host in hosts]

    async def _lookup(
        self, kind: str, method: Callable[[str, Sequence[int]], Deferred[Any]], name: str
    ) -> list[dns.RRHeader]:
        """
        Run one lookup.

        @return: its answer records; none when it failed.
        """
        return await self._records(kind, name, self._query(method, name))

    def _query(
        self, method: Callable[[str, Sequence[int]], Deferred[Any]], name: str
    ) -> Deferred[Any]:
        """
        Start one lookup, turning an exception into a failed L{Deferred}.
        """
        try:
            return method(name, self._timeout)
        except Exception:
            return fail()

    async def _records(self, kind: str, name: str, query: Deferred[Any]) -> list[dns.RRHeader]:
        """
        Wait for a lookup.

        @return: its answer records; none when it failed.
        """
        try:
            result = await query
        except _DNS_ERRORS as e:
            self._log.info(
                "DNS {kind} lookup of {name} failed: {reason}",
                kind=kind, name=name, reason=_reason(e),
            )
            return []
        except Exception:
            self._log.failure("DNS {kind} lookup of {name} failed", kind=kind, name=name)
            return []
        answers: list[dns.RRHeader] = list(result[0])
        return answers


@implementer(IRouter)
class ChainRouter:
    """
    Asks routers in turn: the first non-empty answer wins.

    @ivar routers: the routers, in the order they are asked.
    """

    _log = Logger()

    def __init__(self, routers: Sequence[IRouter]) -> None:
        """
        @param routers: the routers, in the order they are asked.
        """
        self.routers = tuple(routers)

    def route(self, request: Request) -> Deferred[list[Target]]:
        """
        See L{IRouter.route}.

        @return: the first non-empty answer of the routers, or none.  A router
            whose L{Deferred} fails (against L{IRouter}'s contract) is logged
            and skipped.
        """
        return Deferred.fromCoroutine(self._route(request))

    async def _route(self, request: Request) -> list[Target]:
        for router in self.routers:
            try:
                targets = await router.route(request)
            except Exception:
                self._log.failure("Router {router} failed", router=router)
                continue
            if targets:
                return targets
        return []


class LazyResolver(ResolverBase):
    """
    An C{IResolver} that builds the real one (from a factory, such as
    L{twisted.names.client.createResolver}) on the first lookup, so that a service that
    never meets a host name never reads C{/etc/resolv.conf} nor schedules its re-reading.
    """

    def __init__(self, factory: Callable[[], IResolver]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._factory = factory
        self._real: Optional[IResolver] = None

    def _lookup(self, name: bytes, cls: int, type: int, timeout: Any) -> Any:
        if self._real is None:
            self._real = self._factory()
        return self._real.query(Query(name, type, cls), timeout)

    def stop(self) -> None:
        """
        Stop the periodic re-reading of C{resolv.conf} that a
        L{twisted.names.client.Resolver} (alone or in the chain C{createResolver} builds)
        schedules, so that a stopped service leaves nothing in the reactor.
        """
        for each in getattr(self._real, "resolvers", [self._real]):
            call = getattr(each, "_parseCall", None)
            if call is not None and call.active():
                call.cancel()
