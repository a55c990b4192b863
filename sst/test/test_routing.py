# -*- test-case-name: sst.test.test_routing -*-
"""
Tests for L{sst.routing}.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence, Union

from twisted.internet.defer import Deferred, TimeoutError, fail, succeed
from twisted.internet.interfaces import IResolver
from twisted.internet.task import Clock
from twisted.logger import LogLevel, capturedLogs, formatEvent
from twisted.names import dns, error
from twisted.names.common import ResolverBase
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from sst.address import Address
from sst.headers import parseURI
from sst.interfaces import IRouter
from sst.message import Request, parse
from sst.registrar import LocationService, Registrar
from sst.message import Response
from sst.testing import CALLER, ProxyHarness
from sst.routing import (
    ChainRouter,
    DNSRouter,
    LocationRouter,
    StaticRouter,
    Target,
)
from sst.test._support import assertProvides

#: What a fake resolver answers for a (name, type): records, an exception to
#: fail with, or a Deferred to return.
_Answer = Union[list[dns.RRHeader], Exception, "Deferred[Any]"]


def invite(uri: str = "sip:bob@example.com") -> Request:
    """
    Build an INVITE for C{uri}.
    """
    data = (
        "INVITE %s SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKi1\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:alice@example.net>;tag=f1\r\n"
        "To: <sip:bob@example.com>\r\n"
        "Call-ID: call-1\r\n"
        "CSeq: 1 INVITE\r\n"
        "Content-Length: 0\r\n"
        "\r\n" % (uri,)
    ).encode("latin-1")
    message = parse(data)
    assert isinstance(message, Request)
    return message


def srv(
    name: str, priority: int, weight: int, port: int, target: Union[str, bytes]
) -> dns.RRHeader:
    """
    @return: an SRV answer record.
    """
    return dns.RRHeader(name, dns.SRV, payload=dns.Record_SRV(priority, weight, port, target))


def a(name: str, address: str) -> dns.RRHeader:
    """
    @return: an A answer record.
    """
    return dns.RRHeader(name, dns.A, payload=dns.Record_A(address))


def aaaa(name: str, address: str) -> dns.RRHeader:
    """
    @return: an AAAA answer record.
    """
    return dns.RRHeader(name, dns.AAAA, payload=dns.Record_AAAA(address))


class FakeResolver(ResolverBase):
    """
    An L{IResolver} answering from a table, recording the queries it gets.

    Names without an entry fail with L{error.DNSNameError}.

    @ivar answers: maps (name, record type) to what to answer.
    @ivar queries: the (name, record type) of each query, in order.
    """

    def __init__(self, answers: Optional[dict[tuple[str, int], _Answer]] = None) -> None:
        super().__init__()
        self.answers: dict[tuple[str, int], _Answer] = dict(answers or {})
        self.queries: list[tuple[str, int]] = []

    def _lookup(
        self, name: bytes, cls: int, type: int, timeout: object
    ) -> Deferred[tuple[list[dns.RRHeader], list[dns.RRHeader], list[dns.RRHeader]]]:
        key = (name.decode("ascii"), type)
        self.queries.append(key)
        answer = self.answers.get(key)
        if answer is None:
            return fail(error.DNSNameError(name))
        if isinstance(answer, Exception):
            return fail(answer)
        if isinstance(answer, Deferred):
            return answer
        return succeed((answer, [], []))


class BrokenResolver(ResolverBase):
    """
    An L{IResolver} whose lookups raise at once.
    """

    def _lookup(self, name: bytes, cls: int, type: int, timeout: object) -> Deferred[Any]:
        raise RuntimeError("resolver bug")


@implementer(IRouter)
class FakeRouter:
    """
    An L{IRouter} answering the same each time, recording its requests.
    """

    def __init__(self, answer: Union[list[Target], Exception]) -> None:
        self.answer = answer
        self.requests: list[Request] = []

    def route(self, request: Request) -> Deferred[list[Target]]:
        self.requests.append(request)
        if isinstance(self.answer, Exception):
            return fail(self.answer)
        return succeed(list(self.answer))


class TestDoublesTests(SynchronousTestCase):
    """
    The test doubles provide the interfaces they stand in for.
    """

    def test_fakeResolver(self) -> None:
        """
        L{FakeResolver} provides L{IResolver}.
        """
        assertProvides(self, IResolver, FakeResolver())
        assertProvides(self, IResolver, BrokenResolver())

    def test_fakeRouter(self) -> None:
        """
        L{FakeRouter} provides L{IRouter}.
        """
        assertProvides(self, IRouter, FakeRouter([]))


class TargetTests(SynchronousTestCase):
    """
    Tests for L{Target}.
    """

    def test_defaults(self) -> None:
        """
        A target keeps the request's URI unless told otherwise.
        """
        target = Target(Address("udp", "192.0.2.1", 5060))
        self.assertIsNone(target.requestURI)

    def test_frozen(self) -> None:
        """
        Targets are immutable and compare by value.
        """
        target = Target(Address("udp", "192.0.2.1", 5060), "sip:a@192.0.2.1")
        self.assertRaises(
            dataclasses.FrozenInstanceError, setattr, target, "requestURI", None
        )
        self.assertEqual(target, Target(Address("udp", "192.0.2.1", 5060), "sip:a@192.0.2.1"))
        self.assertEqual(len({target, Target(target.address, target.requestURI)}), 1)


class StaticRouterTests(SynchronousTestCase):
    """
    Tests for L{StaticRouter}.
    """

    def test_interface(self) -> None:
        """
        L{StaticRouter} provides L{IRouter}.
        """
        assertProvides(self, IRouter, StaticRouter(parseURI("sip:192.0.2.5")))

    def test_route(self) -> None:
        """
        Every request goes to the next hop's address, keeping its URI.
        """
        router = StaticRouter(parseURI("sip:proxy.example.net:5070;transport=tcp"))
        for uri in ["sip:bob@example.com", "sip:carol@elsewhere.example", "tel:+1555"]:
            self.assertEqual(
                self.successResultOf(router.route(invite(uri))),
                [Target(Address("tcp", "proxy.example.net", 5070))],
            )

    def test_defaultPort(self) -> None:
        """
        A next hop without a port gets the scheme's default port.
        """
        router = StaticRouter(parseURI("sip:192.0.2.5"))
        self.assertEqual(
            self.successResultOf(router.route(invite())),
            [Target(Address("udp", "192.0.2.5", 5060))],
        )


class LocationRouterTests(SynchronousTestCase):
    """
    Tests for L{LocationRouter}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.locations = LocationService(self.clock)
        self.registrar = Registrar(self.locations, ["example.com"])
        self.router = LocationRouter(self.locations, self.registrar)

    def test_interface(self) -> None:
        """
        L{LocationRouter} provides L{IRouter}.
        """
        assertProvides(self, IRouter, self.router)

    def test_registered(self) -> None:
        """
        A request for a registered address-of-record goes to each of its
        contacts, newest first, each retargeted to the contact.
        """
        aor = "sip:bob@example.com"
        self.locations.bind(aor, "sip:bob@192.0.2.7:5062", 3600, "c1", 1)
        self.locations.bind(aor, "sip:bob@198.51.100.1;transport=tcp", 3600, "c2", 1)
        targets = self.successResultOf(self.router.route(invite("sip:bob@EXAMPLE.com:5060")))
        self.assertEqual(
            targets,
            [
                Target(
                    Address("tcp", "198.51.100.1", 5060), "sip:bob@198.51.100.1;transport=tcp"
                ),
                Target(Address("udp", "192.0.2.7", 5062), "sip:bob@192.0.2.7:5062"),
            ],
        )

    def test_unregistered(self) -> None:
        """
        A request for an address-of-record in our domain without bindings
        has no route.
        """
        self.assertEqual(self.successResultOf(self.router.route(invite())), [])

    def test_expired(self) -> None:
        """
        Expired bindings are not routed to.
        """
        self.locations.bind("sip:bob@example.com", "sip:bob@192.0.2.7", 60, "c1", 1)
        self.clock.advance(60)
        self.assertEqual(self.successResultOf(self.router.route(invite())), [])

    def test_otherDomain(self) -> None:
        """
        A request for a domain the registrar does not serve has no route, even
        when the location service has bindings under that name.
        """
        self.locations.bind("sip:bob@example.org", "sip:bob@192.0.2.7", 60, "c1", 1)
        self.assertEqual(
            self.successResultOf(self.router.route(invite("sip:bob@example.org"))), []
        )

    def test_notSIP(self) -> None:
        """
        A non-SIP Request-URI has no route.
        """
        self.assertEqual(self.successResultOf(self.router.route(invite("tel:+1555"))), [])

    def test_nonSIPContactSkipped(self) -> None:
        """
        Contacts that are not SIP URIs are skipped.
        """
        aor = "sip:bob@example.com"
        self.locations.bind(aor, "sip:bob@192.0.2.7", 3600, "c1", 1)
        self.locations.bind(aor, "mailto:bob@example.com", 3600, "c1", 1)
        self.assertEqual(
            self.successResultOf(self.router.route(invite())),
            [Target(Address("udp", "192.0.2.7", 5060), "sip:bob@192.0.2.7")],
        )


class DNSRouterTests(SynchronousTestCase):
    """
    Tests for L{DNSRouter}.
    """

    def route(
        self, uri: str, answers: Optional[dict[tuple[str, int], _Answer]] = None
    ) -> tuple[list[Target], list[tuple[str, int]]]:
        """
        Route an INVITE for C{uri} with a L{FakeResolver}.

        @return: the targets and the queries made.
        """
        resolver = FakeResolver(answers)
        targets = self.successResultOf(DNSRouter(resolver).route(invite(uri)))
        return targets, resolver.queries

    def test_interface(self) -> None:
        """
        L{DNSRouter} provides L{IRouter}.
        """
        assertProvides(self, IRouter, DNSRouter(FakeResolver()))
        assertProvides(self, IRouter, DNSRouter(None))

    def test_numericIPv4(self) -> None:
        """
        A numeric IPv4 host is used without DNS, with the default port.
        """
        targets, queries = self.route("sip:bob@192.0.2.1")
        self.assertEqual(targets, [Target(Address("udp", "192.0.2.1", 5060))])
        self.assertEqual(queries, [])

    def test_numericIPv6(self) -> None:
        """
        A numeric IPv6 host is used without DNS.
        """
        targets, queries = self.route("sip:bob@[2001:db8::5]:5070;transport=tcp")
        self.assertEqual(targets, [Target(Address("tcp", "2001:db8::5", 5070))])
        self.assertEqual(queries, [])

    def test_explicitPort(self) -> None:
        """
        A host name with a port is looked up with A then AAAA, not SRV.
        """
        targets, queries = self.route(
            "sip:bob@host.example.com:5080",
            {
                ("host.example.com", dns.A): [a("host.example.com", "192.0.2.10")],
                ("host.example.com", dns.AAAA): [aaaa("host.example.com", "2001:db8::10")],
            },
        )
        self.assertEqual(
            targets,
            [
                Target(Address("udp", "192.0.2.10", 5080)),
                Target(Address("udp", "2001:db8::10", 5080)),
            ],
        )
        self.assertEqual(
            queries, [("host.example.com", dns.A), ("host.example.com", dns.AAAA)]
        )

    def test_srv(self) -> None:
        """
        Without a port, SRV records are used in order of priority, then of
        decreasing weight; each target is looked up with A then AAAA and
        given the record's port.
        """
        name = "_sip._udp.example.com"
        targets, queries = self.route(
            "sip:bob@example.com",
            {
                (name, dns.SRV): [
                    srv(name, 20, 0, 5060, "backup.example.com"),
                    srv(name, 10, 10, 5070, "light.example.com"),
                    srv(name, 10, 60, 5080, "heavy.example.com"),
                ],
                ("heavy.example.com", dns.A): [
                    a("heavy.example.com", "192.0.2.1"),
                    a("heavy.example.com", "192.0.2.2"),
                ],
                ("heavy.example.com", dns.AAAA): [aaaa("heavy.example.com", "2001:db8::1")],
                ("light.example.com", dns.AAAA): [aaaa("light.example.com", "2001:db8::2")],
                ("backup.example.com", dns.A): [a("backup.example.com", "198.51.100.1")],
            },
        )
        self.assertEqual(
            targets,
            [
                Target(Address("udp", "192.0.2.1", 5080)),
                Target(Address("udp", "192.0.2.2", 5080)),
                Target(Address("udp", "2001:db8::1", 5080)),
                Target(Address("udp", "2001:db8::2", 5070)),
                Target(Address("udp", "198.51.100.1", 5060)),
            ],
        )
        self.assertEqual(queries[0], (name, dns.SRV))
        self.assertNotIn(("example.com", dns.A), queries)

    def test_srvTCP(self) -> None:
        """
        C{transport=tcp} looks up C{_sip._tcp} and gives TCP targets.
        """
        name = "_sip._tcp.example.com"
        targets, queries = self.route(
            "sip:bob@example.com;transport=TCP",
            {
                (name, dns.SRV): [srv(name, 0, 0, 5060, "pbx.example.com")],
                ("pbx.example.com", dns.A): [a("pbx.example.com", "192.0.2.3")],
            },
        )
        self.assertEqual(targets, [Target(Address("tcp", "192.0.2.3", 5060))])
        self.assertEqual(queries[0], (name, dns.SRV))

    def test_srvSIPS(self) -> None:
        """
        A C{sips} URI looks up C{_sips._tcp} and gives TLS targets that keep the SRV
        target's name (for the connection to look up and the certificate to name): no A
        lookup.
        """
        name = "_sips._tcp.example.com"
        targets, queries = self.route(
            "sips:bob@example.com",
            {
                (name, dns.SRV): [srv(name, 0, 0, 5061, "tls.example.com")],
                ("tls.example.com", dns.A): [a("tls.example.com", "192.0.2.4")],
            },
        )
        self.assertEqual(targets, [Target(Address("tls", "tls.example.com", 5061))])
        self.assertEqual(queries, [(name, dns.SRV)])

    def test_srvTransportTLS(self) -> None:
        """
        A C{sip} URI with C{transport=tls} looks up C{_sips._tcp} too (RFC 3263 section
        4.1); without SRV, the host itself, at port 5061.
        """
        targets, queries = self.route("sip:bob@example.com;transport=tls", {})
        self.assertEqual(targets, [Target(Address("tls", "example.com", 5061))])
        self.assertEqual(queries, [("_sips._tcp.example.com", dns.SRV)])

    def test_noSRV(self) -> None:
        """
        When the SRV lookup fails, the host is looked up with A then AAAA and
        given the default port.
        """
        targets, queries = self.route(
            "sip:bob@example.com",
            {
                ("example.com", dns.A): [a("example.com", "192.0.2.8")],
                ("example.com", dns.AAAA): [aaaa("example.com", "2001:db8::8")],
            },
        )
        self.assertEqual(
            targets,
            [
                Target(Address("udp", "192.0.2.8", 5060)),
                Target(Address("udp", "2001:db8::8", 5060)),
            ],
        )
        self.assertEqual(
            queries,
            [
                ("_sip._udp.example.com", dns.SRV),
                ("example.com", dns.A),
                ("example.com", dns.AAAA),
            ],
        )

    def test_emptySRV(self) -> None:
        """
        An SRV answer without SRV records counts as no SRV; C{sips} falls
        back to port 5061.
        """
        targets, _ = self.route(
            "sips:bob@example.com",
            {
                ("_sips._tcp.example.com", dns.SRV): [
                    dns.RRHeader(
                        "_sips._tcp.example.com", dns.CNAME, payload=dns.Record_CNAME(b"x")
                    )
                ],
                ("example.com", dns.A): [a("example.com", "192.0.2.8")],
            },
        )
        self.assertEqual(targets, [Target(Address("tls", "example.com", 5061))])

    def test_srvNotAvailable(self) -> None:
        """
        An SRV target of C{.} (the root, however spelt) means the service is
        not available: no route, and no A lookup of the host.
        """
        name = "_sip._udp.example.com"
        for root in [b".", b""]:
            targets, queries = self.route(
                "sip:bob@example.com",
                {
                    (name, dns.SRV): [srv(name, 0, 0, 0, root)],
                    ("example.com", dns.A): [a("example.com", "192.0.2.8")],
                },
            )
            self.assertEqual(targets, [])
            self.assertEqual(queries, [(name, dns.SRV)])

    def test_duplicates(self) -> None:
        """
        An address reached through two SRV targets is listed once.
        """
        name = "_sip._udp.example.com"
        targets, _ = self.route(
            "sip:bob@example.com",
            {
                (name, dns.SRV): [
                    srv(name, 0, 0, 5060, "one.example.com"),
                    srv(name, 1, 0, 5060, "two.example.com"),
                ],
                ("one.example.com", dns.A): [a("one.example.com", "192.0.2.1")],
                ("two.example.com", dns.A): [
                    a("two.example.com", "192.0.2.1"),
                    a("two.example.com", "192.0.2.2"),
                ],
            },
        )
        self.assertEqual(
            targets,
            [
                Target(Address("udp", "192.0.2.1", 5060)),
                Target(Address("udp", "192.0.2.2", 5060)),
            ],
        )

    def test_cnameInAnswer(self) -> None:
        """
        Records other than A and AAAA in an address answer (a CNAME chain)
        are skipped.
        """
        targets, _ = self.route(
            "sip:bob@alias.example.com:5060",
            {
                ("alias.example.com", dns.A): [
                    dns.RRHeader(
                        "alias.example.com",
                        dns.CNAME,
                        payload=dns.Record_CNAME(b"real.example.com"),
                    ),
                    a("real.example.com", "192.0.2.9"),
                ],
            },
        )
        self.assertEqual(targets, [Target(Address("udp", "192.0.2.9", 5060))])

    def test_maddr(self) -> None:
        """
        A C{maddr} parameter is resolved instead of the host.
        """
        targets, queries = self.route(
            "sip:bob@example.com:5060;maddr=proxy.example.net",
            {("proxy.example.net", dns.A): [a("proxy.example.net", "192.0.2.77")]},
        )
        self.assertEqual(targets, [Target(Address("udp", "192.0.2.77", 5060))])
        self.assertEqual(queries[0], ("proxy.example.net", dns.A))

    def test_nothingFound(self) -> None:
        """
        When every lookup fails, there is no route and the L{Deferred} does
        not fail.
        """
        with capturedLogs() as events:
            targets, queries = self.route("sip:bob@nowhere.example")
        self.assertEqual(targets, [])
        self.assertEqual(len(queries), 3)
        self.assertEqual(len([e for e in events if "failed" in e["log_format"]]), 3)

    def test_timeout(self) -> None:
        """
        A DNS timeout counts as no answer.
        """
        targets, _ = self.route(
            "sip:bob@example.com",
            {
                ("_sip._udp.example.com", dns.SRV): error.DNSQueryTimeoutError("q"),
                ("example.com", dns.A): [a("example.com", "192.0.2.8")],
            },
        )
        self.assertEqual(targets, [Target(Address("udp", "192.0.2.8", 5060))])

    def assertOrdinaryLogs(self, events: Sequence[dict[str, Any]], host: str, reason: str) -> None:
        """
        Every event is an ordinary line (info or warn, no failure and so no traceback), and
        some name C{host} and give C{reason}.
        """
        self.assertEqual([e for e in events if "log_failure" in e], [])
        self.assertEqual([e for e in events if e["log_level"] not in (LogLevel.info, LogLevel.warn)], [])
        texts = [formatEvent(e) for e in events]
        self.assertTrue(any(host in t and reason in t for t in texts), texts)

    def test_resolverTimeout(self) -> None:
        """
        When every server of the resolver times out (Twisted's resolver then fails with
        L{TimeoutError}, not L{error.DNSQueryTimeoutError}), there is no route, and each
        lookup is logged as an ordinary line naming the host and the reason.
        """
        timeout = TimeoutError("all servers timed out")
        answers: dict[tuple[str, int], _Answer] = {("_sip._udp.no-such-host.invalid", dns.SRV): timeout,
                   ("no-such-host.invalid", dns.A): timeout,
                   ("no-such-host.invalid", dns.AAAA): timeout}
        with capturedLogs() as events:
            targets, queries = self.route("sip:bob@no-such-host.invalid", answers)
        self.assertEqual((targets, len(queries)), ([], 3))
        self.assertOrdinaryLogs(events, "no-such-host.invalid", "timed out")
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_noSuchName(self) -> None:
        """
        An NXDOMAIN answer is logged as an ordinary line naming the host and the reason.
        """
        with capturedLogs() as events:
            targets, _ = self.route("sip:bob@no-such-host.invalid")
        self.assertEqual(targets, [])
        self.assertOrdinaryLogs(events, "no-such-host.invalid", "no such domain")

    def test_invalidName(self) -> None:
        """
        A host that is no DNS name (an empty label, a label over 63 octets, a name over 253)
        is not looked up: there is no route, and one ordinary line says why.
        """
        for host in ["a..invalid", "x" * 64 + ".invalid", ".", "a." * 127 + "invalid"]:
            with capturedLogs() as events:
                targets, queries = self.route("sip:bob@%s" % (host,))
            self.assertEqual((targets, queries), ([], []))
            self.assertOrdinaryLogs(events, host, "not a valid DNS name")
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_resolverBug(self) -> None:
        """
        An unexpected exception from the resolver is logged and counts as no
        answer.
        """
        router = DNSRouter(BrokenResolver())
        targets = self.successResultOf(router.route(invite()))
        self.assertEqual(targets, [])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 3)

    def test_pending(self) -> None:
        """
        The route is known only once the lookups answer.
        """
        pending: Deferred[Any] = Deferred()
        resolver = FakeResolver(
            {
                ("host.example.com", dns.A): pending,
                ("host.example.com", dns.AAAA): [aaaa("host.example.com", "2001:db8::3")],
            }
        )
        d = DNSRouter(resolver).route(invite("sip:bob@host.example.com:5060"))
        self.assertNoResult(d)
        self.assertEqual(len(resolver.queries), 2)
        pending.callback(([a("host.example.com", "192.0.2.3")], [], []))
        self.assertEqual(
            self.successResultOf(d),
            [
                Target(Address("udp", "192.0.2.3", 5060)),
                Target(Address("udp", "2001:db8::3", 5060)),
            ],
        )

    def test_noResolver(self) -> None:
        """
        Without a resolver, a host name is kept for the transport to resolve.
        """
        targets = self.successResultOf(DNSRouter(None).route(invite("sip:bob@example.com")))
        self.assertEqual(targets, [Target(Address("udp", "example.com", 5060))])

    def test_notSIP(self) -> None:
        """
        A non-SIP Request-URI has no route.
        """
        targets, queries = self.route("tel:+15551234")
        self.assertEqual((targets, queries), ([], []))

    def test_resolve(self) -> None:
        """
        L{DNSRouter.resolve} resolves any SIP URI, such as a Route's.
        """
        resolver = FakeResolver({("edge.example.net", dns.A): [a("edge.example.net", "192.0.2.6")]})
        d = DNSRouter(resolver).resolve(parseURI("sip:edge.example.net:5060;lr"))
        self.assertEqual(self.successResultOf(d), [Target(Address("udp", "192.0.2.6", 5060))])


class ChainRouterTests(SynchronousTestCase):
    """
    Tests for L{ChainRouter}.
    """

    first = [Target(Address("udp", "192.0.2.1", 5060), "sip:a@192.0.2.1")]
    second = [Target(Address("tcp", "192.0.2.2", 5060))]

    def test_interface(self) -> None:
        """
        L{ChainRouter} provides L{IRouter}.
        """
        assertProvides(self, IRouter, ChainRouter([]))

    def test_firstNonEmptyWins(self) -> None:
        """
        The first router with targets gives the answer; later routers are
        not asked.
        """
        empty, one, two = FakeRouter([]), FakeRouter(self.first), FakeRouter(self.second)
        request = invite()
        targets = self.successResultOf(ChainRouter([empty, one, two]).route(request))
        self.assertEqual(targets, self.first)
        self.assertEqual((empty.requests, one.requests, two.requests), ([request], [request], []))

    def test_fallThrough(self) -> None:
        """
        When the first routers have no targets, the next one answers.
        """
        chain = ChainRouter([FakeRouter([]), FakeRouter(self.second)])
        self.assertEqual(self.successResultOf(chain.route(invite())), self.second)

    def test_noRoute(self) -> None:
        """
        When no router has targets, the answer is empty; an empty chain too.
        """
        self.assertEqual(
            self.successResultOf(ChainRouter([FakeRouter([])]).route(invite())), []
        )
        self.assertEqual(self.successResultOf(ChainRouter([]).route(invite())), [])

    def test_failingRouter(self) -> None:
        """
        A router whose L{Deferred} fails is logged and skipped.
        """
        chain = ChainRouter([FakeRouter(ZeroDivisionError()), FakeRouter(self.second)])
        self.assertEqual(self.successResultOf(chain.route(invite())), self.second)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_locationThenDNS(self) -> None:
        """
        The service's chain retargets registered users and resolves other
        domains with DNS.
        """
        clock = Clock()
        locations = LocationService(clock)
        registrar = Registrar(locations, ["example.com"])
        locations.bind("sip:bob@example.com", "sip:bob@192.0.2.7", 3600, "c1", 1)
        resolver = FakeResolver({("other.example", dns.A): [a("other.example", "198.51.100.9")]})
        chain = ChainRouter([LocationRouter(locations, registrar), DNSRouter(resolver)])
        self.assertEqual(
            self.successResultOf(chain.route(invite())),
            [Target(Address("udp", "192.0.2.7", 5060), "sip:bob@192.0.2.7")],
        )
        self.assertEqual(
            self.successResultOf(chain.route(invite("sip:carol@other.example"))),
            [Target(Address("udp", "198.51.100.9", 5060))],
        )


class ProxyDNSFailureTests(SynchronousTestCase):
    """
    A Request-URI whose host DNS cannot resolve, through the whole proxy: an ordinary SIP
    answer and ordinary log lines.
    """

    def harness(self, resolver: FakeResolver) -> ProxyHarness:
        """
        A proxy routing with DNS (no next hop) through C{resolver}, relaying for the caller.
        """
        h = ProxyHarness(["--relay-network", "127.0.0.0/8"], nextHop=False)
        dnsRouter = DNSRouter(resolver)
        proxy = h.service.proxy
        proxy.router = ChainRouter([LocationRouter(h.service.locations, h.service.registrar),
                                    dnsRouter])
        proxy.uriRouter = dnsRouter
        return h

    def test_unresolvableRequestURI(self) -> None:
        """
        An INVITE for C{sip:bob@no-such-host.invalid} gets 100 then 404 Not Found when DNS
        has no such name or times out: the host is logged with the reason at info level,
        and no failure (traceback) is logged.
        """
        timeout = TimeoutError("all servers timed out")
        for reason, resolver in [
            ("no such domain", FakeResolver()),
            ("timed out", FakeResolver({("_sip._udp.no-such-host.invalid", dns.SRV): timeout,
                                        ("no-such-host.invalid", dns.A): timeout,
                                        ("no-such-host.invalid", dns.AAAA): timeout})),
        ]:
            h = self.harness(resolver)
            invite = h.invite().replace("INVITE sip:bob@127.0.0.1:5070",
                                        "INVITE sip:bob@no-such-host.invalid", 1)
            with capturedLogs() as events:
                h.fromCaller(invite)
            self.assertEqual([m.code for m in h.to(CALLER) if isinstance(m, Response)], [100, 404])
            self.assertEqual([a for _, a in h.sent if a != CALLER], [])
            self.assertEqual([e for e in events if "log_failure" in e], [])
            self.assertEqual([e for e in events
                              if e["log_level"] not in (LogLevel.debug, LogLevel.info, LogLevel.warn)], [])
            texts = [formatEvent(e) for e in events]
            self.assertTrue(any("no-such-host.invalid" in t and reason in t for t in texts), texts)
            self.assertEqual(h.stats.get("internal_errors"), 0)
            self.assertEqual(self.flushLoggedErrors(), [])

    def test_invalidHostName(self) -> None:
        """
        A Request-URI host that is no DNS name (an empty label) gets 404 too, with no failure
        logged.
        """
        h = self.harness(FakeResolver())
        with capturedLogs() as events:
            h.fromCaller(h.invite().replace("INVITE sip:bob@127.0.0.1:5070", "INVITE sip:bob@a..invalid", 1))
        self.assertEqual([m.code for m in h.to(CALLER) if isinstance(m, Response)], [100, 404])
        self.assertEqual([e for e in events if "log_failure" in e], [])
        self.assertEqual(self.flushLoggedErrors(), [])
