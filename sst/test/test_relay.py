# -*- test-case-name: sst.test.test_relay -*-
"""
Tests for the refusal to be an open relay (L{sst.relay.RelayRule}, L{sst.proxy.core.Proxy.relayDenied} and
C{--relay-network}), run through the whole stack with L{ProxyHarness} routing by registrar
and Request-URI (no C{--next-hop}), as C{twistd sst} does by default.

The harness's caller sends from 127.0.0.1, so "an allowed network" is one holding it.
"""
from __future__ import annotations

import ipaddress
from typing import Union

from twisted.trial.unittest import SynchronousTestCase

from sst.address import Address
from sst.message import Request, Response, parse
from sst.relay import RelayRule, inNetworks
from sst.stats import COUNTERS, DESCRIPTIONS
from sst.testing import CALLEE, CALLER, PROXY, ProxyHarness

#: A host in no domain of ours, whose address needs no DNS (RFC 5737 TEST-NET-1).
FOREIGN = Address("udp", "192.0.2.1", 5070)

#: Our own registrar domain in the harness, and a user of it.
AOR = "sip:bob@127.0.0.1"


def request(method: str, uri: str, *headers: str, toTag: str = "",
            branch: str = "z9hG4bK-relay-1", cseq: int = 1) -> str:
    """
    A request from the caller for C{uri}: Via, Max-Forwards, From, To (with C{toTag} when
    given, making it in-dialog), Call-ID, CSeq, then C{headers}; no body.
    """
    lines = [
        "%s %s SIP/2.0" % (method, uri),
        "Via: SIP/2.0/UDP %s;branch=%s;rport" % (CALLER.hostport(), branch),
        "Max-Forwards: 70",
        "From: <sip:alice@%s>;tag=caller1" % (CALLER.hostport(),),
        "To: <%s>%s" % (uri, ";tag=" + toTag if toTag else ""),
        "Call-ID: relay-1",
        "CSeq: %d %s" % (cseq, method),
        "Contact: <sip:alice@%s>" % (CALLER.hostport(),),
    ]
    lines.extend(headers)
    lines.append("Content-Length: 0")
    return "\r\n".join(lines) + "\r\n\r\n"


def register(contact: str, aor: str = AOR) -> str:
    """
    A REGISTER binding C{contact} to C{aor} for an hour, from the callee.
    """
    lines = [
        "REGISTER sip:%s SIP/2.0" % (aor.partition("@")[2],),
        "Via: SIP/2.0/UDP %s;branch=z9hG4bK-reg-1;rport" % (CALLEE.hostport(),),
        "Max-Forwards: 70",
        "From: <%s>;tag=reg1" % (aor,),
        "To: <%s>" % (aor,),
        "Call-ID: reg-1",
        "CSeq: 1 REGISTER",
        "Contact: %s" % (contact,),
        "Expires: 3600",
        "Content-Length: 0",
    ]
    return "\r\n".join(lines) + "\r\n\r\n"


def responses(messages: list[Union[Request, Response]]) -> list[tuple[int, str]]:
    """
    @return: the status code and reason phrase of each response among C{messages}.
    """
    return [(m.code, m.phrase) for m in messages if isinstance(m, Response)]


def elsewhere(h: ProxyHarness) -> list[Union[Request, Response]]:
    """
    @return: every message the proxy sent anywhere but back to the caller.
    """
    return [m for m, a in h.sent if a != CALLER]


class RelayDeniedTests(SynchronousTestCase):
    """
    With no C{--next-hop} and no C{--relay-network}, an out-of-dialog request without a Route
    naming a next hop is forwarded only when its Request-URI is in one of our domains or
    names this proxy; anything else is refused with 403 Relaying denied, and counted.
    """

    def assertDenied(self, h: ProxyHarness, expected: list[tuple[int, str]]) -> None:
        """
        Assert the caller got exactly C{expected}, nothing went anywhere else, and one
        refusal was counted.
        """
        self.assertEqual(responses(h.to(CALLER)), expected)
        self.assertEqual(elsewhere(h), [])
        self.assertEqual(h.stats.get("relay_denied"), 1)

    def test_foreignDomainInvite(self) -> None:
        """
        An INVITE for a domain we do not serve gets 100 Trying then 403 Relaying denied,
        before any DNS lookup or session-timer processing, and no dialog is made.
        """
        h = ProxyHarness(nextHop=False)
        h.fromCaller(request("INVITE", "sip:bob@example.com", "Supported: timer"))
        self.assertDenied(h, [(100, "Trying"), (403, "Relaying denied")])
        self.assertEqual(len(h.dialogs), 0)
        self.assertEqual(h.stats.get("rejected_422"), 0)

    def test_foreignAddress(self) -> None:
        """
        A Request-URI naming another host by address is no more ours than a domain name.
        """
        h = ProxyHarness(nextHop=False)
        h.fromCaller(request("INVITE", "sip:bob@%s" % (FOREIGN.hostport(),)))
        self.assertDenied(h, [(100, "Trying"), (403, "Relaying denied")])

    def test_foreignNonInvite(self) -> None:
        """
        A non-INVITE request (MESSAGE) for a foreign domain gets a 403 and no 100.
        """
        h = ProxyHarness(nextHop=False)
        h.fromCaller(request("MESSAGE", "sip:bob@example.com"))
        self.assertDenied(h, [(403, "Relaying denied")])

    def test_foreignRegister(self) -> None:
        """
        A REGISTER for a domain we do not serve is not relayed to that domain's registrar.
        """
        h = ProxyHarness(nextHop=False)
        h.fromCaller(request("REGISTER", "sip:example.com"))
        self.assertDenied(h, [(403, "Relaying denied")])

    def test_maddr(self) -> None:
        """
        A Request-URI of our domain whose C{maddr} names another host would be sent there:
        it is refused like a foreign one.
        """
        h = ProxyHarness(nextHop=False)
        h.fromCaller(request("INVITE", "%s;maddr=%s" % (AOR, FOREIGN.host)))
        self.assertDenied(h, [(100, "Trying"), (403, "Relaying denied")])

    def test_telURI(self) -> None:
        """
        A C{tel:} Request-URI names no domain of ours: without a route it is refused.
        """
        h = ProxyHarness(nextHop=False)
        h.fromCaller(request("INVITE", "tel:+15551234567"))
        self.assertDenied(h, [(100, "Trying"), (403, "Relaying denied")])

    def test_onlyOurRoute(self) -> None:
        """
        A Route naming only this proxy does not count as a route: once it is removed
        (RFC 3261 section 16.4) the request is judged by its Request-URI.
        """
        h = ProxyHarness(nextHop=False)
        h.fromCaller(request("INVITE", "sip:bob@example.com",
                             "Route: <sip:%s;lr>" % (PROXY.hostport(),)))
        self.assertDenied(h, [(100, "Trying"), (403, "Relaying denied")])

    def test_strayAck(self) -> None:
        """
        An ACK with no To tag that matches no transaction, for a foreign domain, is dropped
        rather than forwarded statelessly.
        """
        h = ProxyHarness(nextHop=False)
        h.fromCaller(request("ACK", "sip:bob@%s" % (FOREIGN.hostport(),)))
        self.assertEqual(h.sent, [])
        self.assertEqual(h.stats.get("relay_denied"), 1)
        self.assertEqual(h.stats.get("dropped"), 1)

    def test_counter(self) -> None:
        """
        C{relay_denied} is a standard counter with a description, so it shows as 0 in
        C{/stats} and C{/metrics} before the first refusal.
        """
        self.assertIn("relay_denied", COUNTERS)
        self.assertIn("relay_denied", DESCRIPTIONS)
        self.assertEqual(ProxyHarness(nextHop=False).stats.snapshot()["relay_denied"], 0)


class RelayAllowedTests(SynchronousTestCase):
    """
    Requests for our domains, in-dialog requests, requests with a Route naming a next hop,
    a static C{--next-hop}, and requests from a C{--relay-network} are forwarded as before.
    """

    def assertForwarded(self, h: ProxyHarness, method: str, uri: str, to: Address) -> None:
        """
        Assert the request went to C{to} with Request-URI C{uri}, the caller got no final
        response, and nothing was refused.
        """
        forwarded = h.lastRequestTo(to)
        self.assertEqual((forwarded.method, forwarded.uri), (method, uri))
        self.assertEqual([c for c, p in responses(h.to(CALLER)) if c >= 200], [])
        self.assertEqual(h.stats.get("relay_denied"), 0)

    def test_ourDomainRegistered(self) -> None:
        """
        An INVITE for a registered user of our domain is routed by the registrar to the
        contact.
        """
        h = ProxyHarness(nextHop=False)
        h.fromCallee(register("<sip:bob@%s>" % (CALLEE.hostport(),)))
        h.fromCaller(request("INVITE", AOR))
        self.assertForwarded(h, "INVITE", "sip:bob@%s" % (CALLEE.hostport(),), CALLEE)

    def test_ourNamedDomain(self) -> None:
        """
        A C{--domain} is ours in any case: an INVITE for a user
        registered there is routed to the contact.
        """
        h = ProxyHarness(["--domain", "example.org"], nextHop=False)
        h.fromCallee(register("<sip:bob@%s>" % (CALLEE.hostport(),), aor="sip:bob@example.org"))
        h.fromCaller(request("INVITE", "sip:bob@EXAMPLE.org"))
        self.assertForwarded(h, "INVITE", "sip:bob@%s" % (CALLEE.hostport(),), CALLEE)

    def test_unregisteredUser(self) -> None:
        """
        An INVITE for an unregistered user of our domain gets 480 from the proxy, not 403.
        """
        h = ProxyHarness(nextHop=False)
        h.fromCaller(request("INVITE", AOR))
        self.assertEqual(responses(h.to(CALLER)),
                         [(100, "Trying"), (480, "Temporarily Unavailable")])
        self.assertEqual(h.stats.get("relay_denied"), 0)

    def test_ourAddress(self) -> None:
        """
        A Request-URI naming this proxy's address (here with its port) is ours.
        """
        h = ProxyHarness(nextHop=False)
        h.fromCallee(register("<sip:bob@%s>" % (CALLEE.hostport(),)))
        h.fromCaller(request("INVITE", "sip:bob@%s" % (PROXY.hostport(),)))
        self.assertForwarded(h, "INVITE", "sip:bob@%s" % (CALLEE.hostport(),), CALLEE)

    def test_maddrOurs(self) -> None:
        """
        A C{maddr} naming this proxy keeps the request ours.
        """
        h = ProxyHarness(nextHop=False)
        h.fromCallee(register("<sip:bob@%s>" % (CALLEE.hostport(),)))
        h.fromCaller(request("INVITE", "%s;maddr=%s" % (AOR, PROXY.host)))
        self.assertEqual(h.stats.get("relay_denied"), 0)
        self.assertEqual(h.lastRequestTo(CALLEE).method, "INVITE")

    def test_registerOurDomain(self) -> None:
        """
        A REGISTER for our domain is still answered by the registrar.
        """
        h = ProxyHarness(nextHop=False)
        h.fromCallee(register("<sip:bob@%s>" % (CALLEE.hostport(),)))
        self.assertEqual([m.code for m in h.to(CALLEE) if isinstance(m, Response)], [200])
        self.assertEqual(h.stats.get("relay_denied"), 0)

    def test_relayNetwork(self) -> None:
        """
        From a source in a C{--relay-network}, a request for a foreign host is routed by
        its Request-URI.
        """
        h = ProxyHarness(["--relay-network", "10.0.0.0/8", "--relay-network", "127.0.0.0/8"],
                         nextHop=False)
        uri = "sip:bob@%s" % (FOREIGN.hostport(),)
        h.fromCaller(request("INVITE", uri))
        self.assertForwarded(h, "INVITE", uri, FOREIGN)

    def test_otherRelayNetwork(self) -> None:
        """
        A C{--relay-network} that does not hold the source allows nothing.
        """
        h = ProxyHarness(["--relay-network", "192.0.2.0/24", "--relay-network", "::1/128"],
                         nextHop=False)
        h.fromCaller(request("INVITE", "sip:bob@%s" % (FOREIGN.hostport(),)))
        self.assertEqual(responses(h.to(CALLER)), [(100, "Trying"), (403, "Relaying denied")])

    def test_inDialog(self) -> None:
        """
        An in-dialog request (To tag) for a foreign host is forwarded to its Request-URI,
        with or without a Route.
        """
        h = ProxyHarness(nextHop=False)
        uri = "sip:bob@%s" % (FOREIGN.hostport(),)
        h.fromCaller(request("BYE", uri, toTag="callee1", cseq=2))
        self.assertForwarded(h, "BYE", uri, FOREIGN)
        h.fromCaller(request("INFO", uri, "Route: <sip:%s;lr>" % (PROXY.hostport(),),
                             toTag="callee1", cseq=3, branch="z9hG4bK-relay-2"))
        self.assertForwarded(h, "INFO", uri, FOREIGN)

    def test_routeToNextHop(self) -> None:
        """
        An out-of-dialog request whose Route names a next hop (after ours) goes there, as
        loose routing requires.
        """
        h = ProxyHarness(nextHop=False)
        h.fromCaller(request("INVITE", "sip:bob@example.com",
                             "Route: <sip:%s;lr>, <sip:%s;lr>"
                             % (PROXY.hostport(), FOREIGN.hostport())))
        self.assertForwarded(h, "INVITE", "sip:bob@example.com", FOREIGN)

    def test_nextHop(self) -> None:
        """
        With C{--next-hop}, every initial request goes to the next hop, whatever its domain.
        """
        h = ProxyHarness()
        h.fromCaller(request("INVITE", "sip:bob@example.com"))
        self.assertForwarded(h, "INVITE", "sip:bob@example.com", CALLEE)


class InNetworksTests(SynchronousTestCase):
    """
    L{inNetworks} matches a source address against the C{--relay-network} list.
    """

    def test_match(self) -> None:
        """
        IPv4 and IPv6 addresses (bracketed or with a zone) match their networks; an
        IPv4-mapped IPv6 address matches as its IPv4 address; host names and an empty list
        match nothing.
        """
        networks = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32")]
        self.assertTrue(inNetworks("10.1.2.3", networks))
        self.assertTrue(inNetworks("2001:db8::1", networks))
        self.assertTrue(inNetworks("[2001:db8::1]", networks))
        self.assertTrue(inNetworks("2001:db8::1%eth0", networks))
        self.assertTrue(inNetworks("::ffff:10.0.0.1", networks))
        self.assertFalse(inNetworks("11.0.0.1", networks))
        self.assertFalse(inNetworks("::1", networks))
        self.assertFalse(inNetworks("example.com", networks))
        self.assertFalse(inNetworks("10.1.2.3", []))


class RelayRuleTests(SynchronousTestCase):
    """
    L{RelayRule} alone: the one rule both cores apply.
    """

    def rule(self, *networks: str, static: bool = False) -> RelayRule:
        return RelayRule([ipaddress.ip_network(n) for n in networks],
                         lambda host: host in ("example.com", "127.0.0.1"), static)

    def invite(self, uri: str) -> Request:
        parsed = parse(request("INVITE", uri).encode("latin-1"))
        assert isinstance(parsed, Request)
        parsed.source = CALLER
        return parsed

    def test_ours(self) -> None:
        """
        A SIP URI of ours (any case, brackets or trailing dot aside) is never denied; its
        C{maddr} must be ours too.
        """
        rule = self.rule()
        self.assertFalse(rule.denied(self.invite("sip:bob@EXAMPLE.com.")))
        self.assertFalse(rule.denied(self.invite("sip:bob@127.0.0.1;maddr=example.com")))
        self.assertTrue(rule.denied(self.invite("sip:bob@example.com;maddr=192.0.2.1")))
        self.assertTrue(rule.denied(self.invite("sip:bob@example.org")))
        self.assertTrue(rule.denied(self.invite("tel:+15551234")))

    def test_networksAndStaticNextHop(self) -> None:
        """
        A caller in one of the networks may relay anywhere, and a static next hop denies
        nothing.
        """
        self.assertFalse(self.rule("127.0.0.0/8").denied(self.invite("sip:bob@example.org")))
        self.assertTrue(self.rule("10.0.0.0/8").denied(self.invite("sip:bob@example.org")))
        self.assertFalse(self.rule(static=True).denied(self.invite("sip:bob@example.org")))
