# -*- test-case-name: sst.test.test_proxy -*-
"""
Tests for L{sst.proxy}: the stateful proxy core (RFC 3261 section 16), run through the
whole stack on a clock with an in-memory wire (L{sst.testing.ProxyHarness}).

Every test asserts what went on the wire: which messages were sent, to whom, in what
order, and the headers the proxy is responsible for.
"""
from __future__ import annotations

import re
from typing import Union

from twisted.internet.error import ConnectionRefusedError, TCPTimedOutError
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from sst.address import Address
from sst.dialogs import DialogId, DialogState
from sst.dialogs import IDialogObserver
from sst.message import Request, Response
from sst.dialogcounter import DialogCounter
from sst.proxy.branches import Branch, _CancelUser
from sst.proxy.hook import ISessionTimerHook, NoSessionTimers
from sst.stats import Stats
from sst.test._support import assertProvides
from sst.testing import CALLEE, CALLER, PROXY, ProxyHarness
from sst.transaction import IClientTransactionUser, ITransactionUser

#: A second user agent, for forking.
CALLEE2 = Address("udp", "127.0.0.1", 5072)

#: The caller's Via as the proxy forwards it (RFC 3581 received and rport filled in).
CALLER_VIA = "SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-inv-1;rport=5061;received=127.0.0.1"

#: The proxy's own Via on a forwarded request (RFC 3261 section 16.6 step 8, RFC 3581).
PROXY_VIA = re.compile(r"^SIP/2\.0/UDP 127\.0\.0\.1:5060;branch=z9hG4bK[^;]+;rport$")

#: The proxy's Record-Route (section 16.6 step 4).
RECORD_ROUTE = "<sip:127.0.0.1:5060;lr>"

#: The Request-URI the INVITEs to the registrar's users carry.
AOR = "sip:bob@127.0.0.1"


def request(method: str, uri: str, *headers: str, branch: str = "z9hG4bK-req-1",
            callId: str = "call-1", cseq: int = 1, fromTag: str = "caller1",
            to: str = "<sip:bob@127.0.0.1:5070>", source: Address = CALLER) -> str:
    """
    A request built by hand: a Via for C{source}, From, To, Call-ID, CSeq, the extra
    header lines C{headers} (Max-Forwards among them when wanted) and no body.
    """
    lines = [
        "%s %s SIP/2.0" % (method, uri),
        "Via: SIP/2.0/UDP %s;branch=%s;rport" % (source.hostport(), branch),
        'From: "alice" <sip:alice@%s>;tag=%s' % (CALLER.hostport(), fromTag),
        "To: %s" % (to,),
        "Call-ID: %s" % (callId,),
        "CSeq: %d %s" % (cseq, method),
    ]
    lines.extend(headers)
    lines.append("Content-Length: 0")
    return "\r\n".join(lines) + "\r\n\r\n"


def cancel(branch: str = "z9hG4bK-inv-1") -> str:
    """
    The caller's CANCEL for L{ProxyHarness.invite} (RFC 3261 section 9.1: same Request-URI,
    top Via, Call-ID, From, To and CSeq number).
    """
    return request("CANCEL", "sip:bob@127.0.0.1:5070", "Max-Forwards: 70", branch=branch)


def ackFor(response: Response, branch: str = "z9hG4bK-inv-1") -> str:
    """
    The caller's ACK for a non-2xx final response to L{ProxyHarness.invite} (RFC 3261
    section 17.1.1.3: the INVITE's branch, the response's To).
    """
    return request("ACK", "sip:bob@127.0.0.1:5070", "Max-Forwards: 70", branch=branch,
                   to=response.header("to") or "")


def register(*contacts: str, branch: str = "z9hG4bK-reg-1", callId: str = "reg-1") -> str:
    """
    A REGISTER for C{sip:bob@127.0.0.1} (a user of the proxy's own domain) binding
    C{contacts} for an hour.
    """
    lines = [
        "REGISTER sip:127.0.0.1 SIP/2.0",
        "Via: SIP/2.0/UDP %s;branch=%s;rport" % (CALLEE.hostport(), branch),
        "Max-Forwards: 70",
        "From: <%s>;tag=reg1" % (AOR,),
        "To: <%s>" % (AOR,),
        "Call-ID: %s" % (callId,),
        "CSeq: 1 REGISTER",
        "Contact: %s" % (", ".join(contacts),),
        "Expires: 3600",
        "Content-Length: 0",
    ]
    return "\r\n".join(lines) + "\r\n\r\n"


def codes(messages: list[Union[Request, Response]]) -> list[int]:
    """
    @return: the status codes of the responses among C{messages}, in order.
    """
    return [m.code for m in messages if isinstance(m, Response)]


def methods(messages: list[Union[Request, Response]]) -> list[str]:
    """
    @return: the methods of the requests among C{messages}, in order.
    """
    return [m.method for m in messages if isinstance(m, Request)]


def summary(messages: list[Union[Request, Response]]) -> list[str]:
    """
    @return: each message as its method or status code with its CSeq method, in order
        (C{"INVITE"}, C{"100 INVITE"}, C{"200 CANCEL"}).
    """
    return [m.method if isinstance(m, Request) else "%d %s" % (m.code, m.cseq().method)
            for m in messages]


def topBranch(message: Union[Request, Response]) -> str:
    """
    @return: the branch of the top Via.
    """
    branch = message.topVia().branch
    assert branch is not None
    return branch


def run(h: ProxyHarness, seconds: float, step: float = 0.1) -> None:
    """
    Move C{h}'s clock on by C{seconds} in steps of C{step}, so that timers re-armed when
    they fire (retransmissions) are re-armed from the time they were due.
    """
    h.clock.pump([step] * round(seconds / step))


def since(h: ProxyHarness, mark: int, address: Address) -> list[Union[Request, Response]]:
    """
    @return: what was sent to C{address} after the first C{mark} messages of C{h.sent}.
    """
    return [m for m, a in h.sent[mark:] if a == address]


class ValidationTests(SynchronousTestCase):
    """
    Request validation (RFC 3261 section 16.3), in its order: URI scheme, Max-Forwards,
    loop detection, Proxy-Require; never Require.
    """

    def test_unknownScheme(self) -> None:
        """
        A request whose Request-URI scheme is neither sip, sips nor tel is answered
        416 Unsupported URI Scheme, and nothing is forwarded.
        """
        h = ProxyHarness()
        h.fromCaller(request("OPTIONS", "mailto:bob@example.com", "Max-Forwards: 70",
                             to="<mailto:bob@example.com>"))
        [response] = h.to(CALLER)
        assert isinstance(response, Response)
        self.assertEqual((response.code, response.phrase), (416, "Unsupported URI Scheme"))
        self.assertEqual(response.headerValues("via"),
                         ["SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-req-1;rport=5061;"
                          "received=127.0.0.1"])
        self.assertEqual(h.to(CALLEE), [])

    def test_unquotedDisplayNameRejected(self) -> None:
        """
        A request whose From or To has an unquoted display name with a comma (RFC 4475
        section 3.1.2.15), whatever its method and in a dialog or not, gets 400 and is not
        forwarded: a proxy must not propagate the error (RFC 3261 section 16.3 step 1).
        """
        h = ProxyHarness()
        bad = "Bell, Alexander <sip:a.g.bell@example.com>"
        cases = [request("OPTIONS", "sip:bob@127.0.0.1:5070", "Max-Forwards: 70",
                         to="Watson, Thomas <sip:t.watson@example.org>", branch="z9hG4bK-o1"),
                 request("MESSAGE", "sip:bob@127.0.0.1:5070", "Max-Forwards: 70",
                         branch="z9hG4bK-m1").replace('"alice" <sip:alice@127.0.0.1:5061>', bad),
                 h.inDialog("BYE").replace('From: <sip:alice@127.0.0.1:5061>', "From: " + bad)]
        for data in cases:
            h.fromCaller(data)
        responses = [m for m in h.to(CALLER) if isinstance(m, Response)]
        self.assertEqual([(r.code, r.phrase) for r in responses], [(400, "bad display name")] * 3)
        self.assertEqual(h.to(CALLEE), [])
        self.assertEqual(h.stats.get("parse_errors"), 3)

    def test_unquotedDisplayNameAckDropped(self) -> None:
        """
        An ACK whose From has an unquoted display name with a comma is not forwarded (an
        ACK is never answered): it is dropped and counted.
        """
        h = ProxyHarness()
        ack = h.inDialog("ACK").replace("From: <sip:alice@127.0.0.1:5061>",
                                        "From: Bell, Alexander <sip:a.g.bell@example.com>")
        h.fromCaller(ack)
        self.assertEqual(h.sent, [])
        self.assertEqual((h.stats.get("parse_errors"), h.stats.get("dropped")), (1, 1))

    def test_schemeCheckedBeforeMaxForwards(self) -> None:
        """
        The URI scheme is checked before Max-Forwards (step 2 before step 3): an unknown
        scheme with Max-Forwards 0 gets 416, not 483.
        """
        h = ProxyHarness()
        h.fromCaller(request("OPTIONS", "mailto:bob@example.com", "Max-Forwards: 0",
                             to="<mailto:bob@example.com>"))
        self.assertEqual(codes(h.to(CALLER)), [416])

    def test_maxForwardsZero(self) -> None:
        """
        An INVITE with Max-Forwards 0 gets 100 Trying, then 483 Too Many Hops, and is not
        forwarded.
        """
        h = ProxyHarness()
        h.fromCaller(h.invite().replace("Max-Forwards: 70", "Max-Forwards: 0"))
        self.assertEqual(codes(h.to(CALLER)), [100, 483])
        self.assertEqual(h.lastResponseTo(CALLER).phrase, "Too Many Hops")
        self.assertEqual(h.to(CALLEE), [])

    def test_maxForwardsCheckedBeforeProxyRequire(self) -> None:
        """
        Max-Forwards is checked before Proxy-Require (step 3 before step 5): Max-Forwards 0
        with an unknown Proxy-Require gets 483, not 420.
        """
        h = ProxyHarness()
        h.fromCaller(request("MESSAGE", "sip:bob@127.0.0.1:5070", "Max-Forwards: 0",
                             "Proxy-Require: foo"))
        self.assertEqual(codes(h.to(CALLER)), [483])

    def assertOptionsAnswered(self, h: ProxyHarness) -> None:
        """
        The caller got one 200 to its OPTIONS, from the proxy itself, with Allow, Accept,
        C{Supported: timer} and a To tag; nothing went to the callee.
        """
        self.assertEqual(codes(h.to(CALLER)), [200])
        response = h.lastResponseTo(CALLER)
        self.assertIn("OPTIONS", response.header("allow"))
        self.assertIn("INVITE", response.header("allow"))
        self.assertEqual(response.header("accept"), "application/sdp")
        self.assertEqual(response.header("supported"), "timer")
        self.assertIsNotNone(response.toTag)
        self.assertEqual(h.to(CALLEE), [])
        self.assertEqual(h.stats.get("options_answered"), 1)

    def test_optionsMaxForwardsZero(self) -> None:
        """
        An OPTIONS with Max-Forwards 0 is answered by the proxy as its final recipient
        (RFC 3261 section 16.3 item 3), not with 483: a health check that sets it sees 200.
        """
        h = ProxyHarness()
        h.fromCaller(request("OPTIONS", "sip:bob@127.0.0.1:5070", "Max-Forwards: 0"))
        self.assertOptionsAnswered(h)

    def test_optionsToProxyAddress(self) -> None:
        """
        An OPTIONS whose Request-URI is the proxy's own address with no user part gets 200
        from the proxy, not 480 or a forward to the next hop.
        """
        h = ProxyHarness()
        h.fromCaller(request("OPTIONS", "sip:127.0.0.1:5060", "Max-Forwards: 70",
                             to="<sip:127.0.0.1:5060>"))
        self.assertOptionsAnswered(h)

    def test_optionsToProxyDomain(self) -> None:
        """
        An OPTIONS for one of the registrar's domains with no user part and no port is for
        the proxy too.
        """
        h = ProxyHarness(nextHop=False)
        h.fromCaller(request("OPTIONS", "sip:localhost", "Max-Forwards: 70",
                             to="<sip:localhost>"))
        self.assertOptionsAnswered(h)

    def test_optionsToUserForwarded(self) -> None:
        """
        An OPTIONS for a user, or for another port on one of our hosts, is forwarded as
        before.
        """
        h = ProxyHarness()
        h.fromCaller(request("OPTIONS", "sip:bob@127.0.0.1:5060", "Max-Forwards: 70"))
        h.fromCaller(request("OPTIONS", "sip:127.0.0.1:5070", "Max-Forwards: 70",
                             branch="z9hG4bK-req-2", callId="call-2"))
        self.assertEqual([getattr(r, "method", None) for r in h.to(CALLEE)], ["OPTIONS", "OPTIONS"])
        self.assertEqual(h.stats.get("options_answered"), 0)

    def test_maxForwardsOne(self) -> None:
        """
        An INVITE with Max-Forwards 1 is forwarded with Max-Forwards 0.
        """
        h = ProxyHarness()
        h.fromCaller(h.invite().replace("Max-Forwards: 70", "Max-Forwards: 1"))
        self.assertEqual(h.lastRequestTo(CALLEE).headerValues("max-forwards"), ["0"])

    def test_maxForwardsDecremented(self) -> None:
        """
        A forwarded request carries one Max-Forwards, one less than received (section 16.6
        step 3).
        """
        h = ProxyHarness()
        h.fromCaller(h.invite())
        self.assertEqual(h.lastRequestTo(CALLEE).headerValues("max-forwards"), ["69"])

    def test_maxForwardsAdded(self) -> None:
        """
        A request without Max-Forwards is forwarded with C{Max-Forwards: 70} (section 16.6
        step 3: "the proxy MUST add one with a field value, which SHOULD be 70").
        """
        h = ProxyHarness()
        h.fromCaller(h.invite().replace("Max-Forwards: 70\r\n", ""))
        self.assertEqual(h.lastRequestTo(CALLEE).headerValues("max-forwards"), ["70"])

    def loopedBack(self, h: ProxyHarness, requestURI: str) -> bytes:
        """
        The INVITE the proxy forwarded to the callee, as it comes back to the proxy from the
        callee acting as a proxy: the callee's Via on top and the Request-URI C{requestURI}.
        """
        forwarded = h.lastRequestTo(CALLEE)
        data = forwarded.toBytes()
        firstLine, rest = data.split(b"\r\n", 1)
        self.assertEqual(firstLine, b"INVITE sip:bob@127.0.0.1:5070 SIP/2.0")
        back = b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-back;rport\r\n"
        return b"INVITE %s SIP/2.0\r\n" % (requestURI.encode("ascii"),) + back + rest

    def test_loop(self) -> None:
        """
        A request that comes back with the proxy's own Via carrying the loop hash it would
        compute again (same Request-URI, tags, Call-ID, CSeq) has looped: it gets 482 Loop
        Detected, after 100 Trying, and is not forwarded again.
        """
        h = ProxyHarness()
        h.fromCaller(h.invite())
        h.fromCallee(self.loopedBack(h, "sip:bob@127.0.0.1:5070"))
        self.assertEqual(summary(h.to(CALLEE)), ["INVITE", "100 INVITE", "482 INVITE"])
        rejection = h.lastResponseTo(CALLEE)
        self.assertEqual(rejection.phrase, "Loop Detected")
        self.assertEqual(rejection.headerValues("via")[0],
                         "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-back;rport=5070;"
                         "received=127.0.0.1")
        self.assertEqual(codes(h.to(CALLER)), [100])

    def test_nextHopIsSelf(self) -> None:
        """
        With C{--next-hop} naming the proxy itself, an INVITE is forwarded to the proxy
        (not refused with 480), comes back with the proxy's Via on top carrying the same
        loop hash, and is answered 482 Loop Detected (RFC 3261 section 16.3 item 4); the
        first pass forwards the 482 to the caller, and nothing is forwarded a third time.
        """
        h = ProxyHarness(["--next-hop", "sip:%s" % (PROXY.hostport(),)])
        h.fromCaller(h.invite())
        [looped] = h.to(PROXY)
        assert isinstance(looped, Request)
        self.assertRegex(looped.headerValues("via")[0], PROXY_VIA)
        h.receive(looped.toBytes(), PROXY)
        self.assertEqual(summary(h.to(PROXY)), ["INVITE", "100 INVITE", "482 INVITE"])
        h.receive(h.lastResponseTo(PROXY).toBytes(), PROXY)
        self.assertEqual(summary(h.to(CALLER)), ["100 INVITE", "482 INVITE"])
        self.assertEqual(h.lastResponseTo(CALLER).headerValues("via"), [CALLER_VIA])
        self.assertEqual(summary(h.to(PROXY)), ["INVITE", "100 INVITE", "482 INVITE", "ACK"])

    def test_loopedWithOurViaOnTop(self) -> None:
        """
        A request whose top Via is the proxy's, with the loop hash it would compute again,
        has looped: 482.
        """
        h = ProxyHarness()
        h.fromCaller(h.invite())
        forwarded = h.lastRequestTo(CALLEE)
        h.receive(forwarded.toBytes(), CALLEE)
        self.assertEqual(summary(h.to(CALLEE)), ["INVITE", "100 INVITE", "482 INVITE"])

    def test_spiral(self) -> None:
        """
        A request that comes back with a different Request-URI has spiralled, not looped:
        it is forwarded again, with a new branch, a second Record-Route and four Vias.
        """
        h = ProxyHarness()
        h.fromCaller(h.invite())
        first = h.lastRequestTo(CALLEE)
        h.fromCallee(self.loopedBack(h, "sip:carol@127.0.0.1:5070"))
        self.assertEqual(summary(h.to(CALLEE)), ["INVITE", "100 INVITE", "INVITE"])
        second = h.lastRequestTo(CALLEE)
        self.assertEqual(second.uri, "sip:carol@127.0.0.1:5070")
        vias = second.headerValues("via")
        self.assertEqual(len(vias), 4)
        self.assertRegex(vias[0], PROXY_VIA)
        self.assertEqual(vias[1], "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-back;rport=5070;"
                                  "received=127.0.0.1")
        self.assertEqual(vias[2:], first.headerValues("via"))
        self.assertNotEqual(topBranch(second), topBranch(first))
        self.assertEqual(second.headerValues("record-route"), [RECORD_ROUTE, RECORD_ROUTE])
        self.assertEqual(second.headerValues("max-forwards"), ["68"])

    def test_proxyRequireUnknown(self) -> None:
        """
        A Proxy-Require naming an extension the proxy does not support gets 420 Bad
        Extension listing it in Unsupported, and is not forwarded.
        """
        h = ProxyHarness()
        h.fromCaller(h.invite("Proxy-Require: foo"))
        self.assertEqual(codes(h.to(CALLER)), [100, 420])
        rejection = h.lastResponseTo(CALLER)
        self.assertEqual(rejection.phrase, "Bad Extension")
        self.assertEqual(rejection.headerValues("unsupported"), ["foo"])
        self.assertEqual(h.to(CALLEE), [])

    def test_proxyRequireListsOnlyUnsupported(self) -> None:
        """
        Unsupported names only the unknown tags of a Proxy-Require, not C{timer}.
        """
        h = ProxyHarness()
        h.fromCaller(request("OPTIONS", "sip:bob@127.0.0.1:5070", "Max-Forwards: 70",
                             "Proxy-Require: timer, foo"))
        self.assertEqual(codes(h.to(CALLER)), [420])
        self.assertEqual(h.lastResponseTo(CALLER).headerValues("unsupported"), ["foo"])

    def test_proxyRequireTimer(self) -> None:
        """
        C{Proxy-Require: timer} names an extension the proxy supports: the request is
        forwarded with the header unchanged.
        """
        h = ProxyHarness()
        h.fromCaller(h.invite("Proxy-Require: timer"))
        self.assertEqual(codes(h.to(CALLER)), [100])
        self.assertEqual(h.lastRequestTo(CALLEE).headerValues("proxy-require"), ["timer"])

    def test_requireIsNotForTheProxy(self) -> None:
        """
        A proxy never rejects because of Require (section 16.3, 8.2.2.3): C{Require: foo}
        is forwarded unchanged.
        """
        h = ProxyHarness()
        h.fromCaller(request("OPTIONS", "sip:bob@127.0.0.1:5070", "Max-Forwards: 70",
                             "Require: foo"))
        self.assertEqual(h.to(CALLER), [])
        forwarded = h.lastRequestTo(CALLEE)
        self.assertEqual(forwarded.method, "OPTIONS")
        self.assertEqual(forwarded.headerValues("require"), ["foo"])


class RouteTests(SynchronousTestCase):
    """
    Route information pre-processing (RFC 3261 section 16.4) and loose routing.
    """

    def test_looseRoute(self) -> None:
        """
        A top Route naming the proxy (with C{lr}) is removed; the next Route decides where
        the request goes, with the Request-URI unchanged (and not the next hop).
        """
        h = ProxyHarness()
        h.fromCaller(request("INVITE", "sip:bob@example.com", "Max-Forwards: 70",
                             "Route: <sip:127.0.0.1:5060;lr>, <sip:127.0.0.1:5072;lr>",
                             branch="z9hG4bK-inv-1"))
        self.assertEqual(h.to(CALLEE), [])
        [forwarded] = h.to(CALLEE2)
        assert isinstance(forwarded, Request)
        self.assertEqual(forwarded.uri, "sip:bob@example.com")
        self.assertEqual(forwarded.headerValues("route"), ["<sip:127.0.0.1:5072;lr>"])
        self.assertEqual(forwarded.headerValues("record-route"), [RECORD_ROUTE])

    def test_strictRouterFix(self) -> None:
        """
        A request from a strict router, whose Request-URI is the proxy's Record-Route URI,
        gets its Request-URI back from the last Route, which is removed; the other Routes
        stay, in order, and the first decides the destination.
        """
        h = ProxyHarness()
        h.fromCaller(request("BYE", "sip:127.0.0.1:5060;lr", "Max-Forwards: 70",
                             "Route: <sip:127.0.0.1:5072;lr>",
                             "Route: <sip:bob@127.0.0.1:5070>",
                             to="<sip:bob@127.0.0.1:5070>;tag=callee1"))
        self.assertEqual(h.to(CALLEE), [])
        [forwarded] = h.to(CALLEE2)
        assert isinstance(forwarded, Request)
        self.assertEqual(forwarded.startLine(), "BYE sip:bob@127.0.0.1:5070 SIP/2.0")
        self.assertEqual(forwarded.headerValues("route"), ["<sip:127.0.0.1:5072;lr>"])
        self.assertEqual(forwarded.headerValues("record-route"), [])

    def test_inDialogRequestFollowsRequestURI(self) -> None:
        """
        An in-dialog request whose only Route is the proxy's goes to its Request-URI, Route
        removed, and is not record-routed.
        """
        h = ProxyHarness()
        h.call()
        h.fromCaller(h.inDialog("BYE"))
        bye = h.lastRequestTo(CALLEE)
        self.assertEqual(bye.startLine(), "BYE sip:bob@127.0.0.1:5070 SIP/2.0")
        self.assertEqual(bye.headerValues("route"), [])
        self.assertEqual(bye.headerValues("record-route"), [])


class AdvertiseTests(SynchronousTestCase):
    """
    C{--advertise}: the proxy writes the address a cluster shares in Record-Route, and takes
    a Route naming it for its own.
    """

    def harness(self, host: str, port: int) -> ProxyHarness:
        h = ProxyHarness()
        proxy = h.service.stack.proxy
        assert proxy is not None
        proxy.advertise(host, port)
        return h

    def test_recordRoute(self) -> None:
        """
        An initial INVITE is record-routed with the advertised address, not the address it
        came in on.
        """
        h = self.harness("192.0.2.7", 5080)
        h.fromCaller(h.invite())
        [forwarded] = h.to(CALLEE)
        self.assertEqual(forwarded.headerValues("record-route"), ["<sip:192.0.2.7:5080;lr>"])

    def test_recordRouteIPv6(self) -> None:
        """
        An advertised IPv6 address is written in brackets.
        """
        h = self.harness("2001:db8::7", 5060)
        h.fromCaller(h.invite())
        [forwarded] = h.to(CALLEE)
        self.assertEqual(forwarded.headerValues("record-route"), ["<sip:[2001:db8::7]:5060;lr>"])

    def test_routeNamingItIsOurs(self) -> None:
        """
        An in-dialog request whose Route names the advertised address (the Record-Route a
        node of the cluster wrote) is routed by this proxy: the Route is removed and the
        request goes to its Request-URI.
        """
        h = self.harness("192.0.2.7", 5080)
        h.fromCaller(request("BYE", "sip:bob@127.0.0.1:5070", "Max-Forwards: 70",
                             "Route: <sip:192.0.2.7:5080;lr>",
                             to="<sip:bob@127.0.0.1:5070>;tag=callee1"))
        bye = h.lastRequestTo(CALLEE)
        self.assertEqual(bye.startLine(), "BYE sip:bob@127.0.0.1:5070 SIP/2.0")
        self.assertEqual(bye.headerValues("route"), [])

    def test_otherRouteKept(self) -> None:
        """
        Without C{--advertise} that Route names another proxy: the request goes there, the
        Route kept.
        """
        h = ProxyHarness()
        h.fromCaller(request("BYE", "sip:bob@127.0.0.1:5070", "Max-Forwards: 70",
                             "Route: <sip:127.0.0.1:5072;lr>",
                             to="<sip:bob@127.0.0.1:5070>;tag=callee1"))
        self.assertEqual(h.to(CALLEE), [])
        [bye] = h.to(CALLEE2)
        assert isinstance(bye, Request)
        self.assertEqual(bye.headerValues("route"), ["<sip:127.0.0.1:5072;lr>"])


class ForwardingTests(SynchronousTestCase):
    """
    Forwarding a request (RFC 3261 section 16.6) and provisional responses.
    """

    def test_forwardedInvite(self) -> None:
        """
        The forwarded INVITE keeps the Request-URI (a static next hop), has the proxy's Via
        on top (branch with the magic cookie, C{rport}) above the caller's (with
        C{received} and C{rport} filled in), one Record-Route C{<sip:127.0.0.1:5060;lr>}
        and Max-Forwards 69.
        """
        h = ProxyHarness()
        h.fromCaller(h.invite())
        [forwarded] = h.to(CALLEE)
        assert isinstance(forwarded, Request)
        self.assertEqual(forwarded.startLine(), "INVITE sip:bob@127.0.0.1:5070 SIP/2.0")
        vias = forwarded.headerValues("via")
        self.assertEqual(len(vias), 2)
        self.assertRegex(vias[0], PROXY_VIA)
        self.assertEqual(vias[1], CALLER_VIA)
        self.assertEqual(forwarded.headerValues("record-route"), [RECORD_ROUTE])
        self.assertEqual(forwarded.headerValues("max-forwards"), ["69"])
        self.assertEqual(forwarded.body, b"v=0\r\n")

    def test_reinviteNotRecordRouted(self) -> None:
        """
        An in-dialog INVITE is forwarded without a Record-Route (only initial requests are
        record-routed), with the proxy's Via on top.
        """
        h = ProxyHarness()
        h.call()
        h.fromCaller(h.inDialog("INVITE", "Supported: timer"))
        reinvite = h.lastRequestTo(CALLEE)
        self.assertEqual(reinvite.method, "INVITE")
        self.assertEqual(reinvite.headerValues("record-route"), [])
        self.assertRegex(reinvite.headerValues("via")[0], PROXY_VIA)

    def test_trying(self) -> None:
        """
        An INVITE is answered 100 Trying at once, with the caller's Via and a To without a
        tag.
        """
        h = ProxyHarness()
        h.fromCaller(h.invite())
        [trying] = h.to(CALLER)
        assert isinstance(trying, Response)
        self.assertEqual((trying.code, trying.phrase), (100, "Trying"))
        self.assertEqual(trying.headerValues("via"), [CALLER_VIA])
        self.assertIsNone(trying.toTag)
        self.assertEqual(trying.header("cseq"), "1 INVITE")

    def test_noTryingForNonInvite(self) -> None:
        """
        A non-INVITE request gets no 100 Trying from the proxy (section 16.2); its final
        response is forwarded.
        """
        h = ProxyHarness()
        h.fromCaller(request("OPTIONS", "sip:bob@127.0.0.1:5070", "Max-Forwards: 70"))
        self.assertEqual(h.to(CALLER), [])
        options = h.lastRequestTo(CALLEE)
        self.assertEqual(options.method, "OPTIONS")
        self.assertEqual(options.headerValues("record-route"), [])
        h.fromCallee(h.answer(options, 200))
        self.assertEqual(codes(h.to(CALLER)), [200])
        self.assertEqual(h.lastResponseTo(CALLER).headerValues("via"),
                         ["SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-req-1;rport=5061;"
                          "received=127.0.0.1"])

    def test_downstreamTryingNotForwarded(self) -> None:
        """
        A 100 from downstream is hop-by-hop: it is not forwarded (section 16.7 step 5).
        """
        h = ProxyHarness()
        h.fromCaller(h.invite())
        h.fromCallee(h.answer(h.lastRequestTo(CALLEE), 100))
        self.assertEqual(codes(h.to(CALLER)), [100])

    def test_ringingForwarded(self) -> None:
        """
        A 180 is forwarded upstream at once with the proxy's Via removed, the rest as the
        callee sent it.
        """
        h = ProxyHarness()
        h.fromCaller(h.invite())
        h.fromCallee(h.answer(h.lastRequestTo(CALLEE), 180))
        self.assertEqual(codes(h.to(CALLER)), [100, 180])
        ringing = h.lastResponseTo(CALLER)
        self.assertEqual(ringing.headerValues("via"), [CALLER_VIA])
        self.assertEqual(ringing.headerValues("record-route"), [RECORD_ROUTE])
        self.assertEqual(ringing.toTag, "callee1")
        self.assertEqual(ringing.headerValues("contact"), ["<sip:bob@127.0.0.1:5070>"])

    def test_serviceUnavailableBecomes500(self) -> None:
        """
        A best response of 503 is sent upstream as 500 (section 16.7 step 6), and the 503 is
        acknowledged downstream.
        """
        h = ProxyHarness()
        h.fromCaller(h.invite())
        invite = h.lastRequestTo(CALLEE)
        h.fromCallee(h.answer(invite, 503))
        self.assertEqual(codes(h.to(CALLER)), [100, 500])
        final = h.lastResponseTo(CALLER)
        self.assertEqual(final.phrase, "Server Internal Error")
        self.assertEqual(final.headerValues("via"), [CALLER_VIA])
        self.assertEqual(summary(h.to(CALLEE)), ["INVITE", "ACK"])
        self.assertEqual(topBranch(h.lastRequestTo(CALLEE)), topBranch(invite))

    def test_nonSuccessAckAbsorbed(self) -> None:
        """
        The caller's ACK for a non-2xx final response matches the server transaction and
        is not forwarded (the client transaction acknowledged the callee's 486 itself, with
        the INVITE's branch); the 486 is no longer retransmitted after it.
        """
        h = ProxyHarness()
        h.fromCaller(h.invite())
        invite = h.lastRequestTo(CALLEE)
        h.fromCallee(h.answer(invite, 486))
        busy = h.lastResponseTo(CALLER)
        self.assertEqual(busy.code, 486)
        self.assertEqual(summary(h.to(CALLEE)), ["INVITE", "ACK"])
        hopAck = h.lastRequestTo(CALLEE)
        self.assertEqual(hopAck.headerValues("via"), invite.headerValues("via")[:1])
        self.assertEqual(hopAck.toTag, "callee1")
        h.fromCaller(ackFor(busy))
        self.assertEqual(summary(h.to(CALLEE)), ["INVITE", "ACK"])
        mark = len(h.sent)
        h.clock.advance(40)
        self.assertEqual(h.sent[mark:], [])
        self.assertEqual(h.clock.getDelayedCalls(), [])

    def test_successAckEndToEnd(self) -> None:
        """
        The ACK for a 2xx is a request of its own: routed by its Route (the proxy's, popped)
        to the Request-URI, with a new branch (not the INVITE's), Max-Forwards decremented
        and no Record-Route.
        """
        h = ProxyHarness()
        h.call()
        self.assertEqual(summary(h.to(CALLEE)), ["INVITE", "ACK"])
        invite, ack = h.to(CALLEE)
        assert isinstance(ack, Request)
        self.assertEqual(ack.startLine(), "ACK sip:bob@127.0.0.1:5070 SIP/2.0")
        vias = ack.headerValues("via")
        self.assertEqual(len(vias), 2)
        self.assertRegex(vias[0], PROXY_VIA)
        self.assertNotEqual(topBranch(ack), topBranch(invite))
        self.assertEqual(vias[1], "SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-ack-1;rport=5061;"
                                  "received=127.0.0.1")
        self.assertEqual(ack.headerValues("route"), [])
        self.assertEqual(ack.headerValues("record-route"), [])
        self.assertEqual(ack.headerValues("max-forwards"), ["69"])
        self.assertEqual(ack.toTag, "callee1")

    def test_ackMaxForwardsAdded(self) -> None:
        """
        An ACK for a 2xx without Max-Forwards is forwarded with C{Max-Forwards: 70}.
        """
        h = ProxyHarness()
        h.fromCaller(h.invite())
        h.fromCallee(h.answer(h.lastRequestTo(CALLEE), 200))
        h.fromCaller(h.inDialog("ACK", cseq=1).replace("Max-Forwards: 70\r\n", ""))
        ack = h.lastRequestTo(CALLEE)
        self.assertEqual(ack.method, "ACK")
        self.assertEqual(ack.headerValues("max-forwards"), ["70"])

    def test_stray2xxForwarded(self) -> None:
        """
        A 2xx retransmission arriving after the INVITE client transaction has gone (Timer M,
        32 s) is still forwarded upstream along the Via, the proxy's Via removed (RFC 6026).
        """
        h = ProxyHarness()
        h.call()
        invite = h.to(CALLEE)[0]
        assert isinstance(invite, Request)
        h.clock.advance(33)
        mark = len(h.sent)
        h.fromCallee(h.answer(invite, 200))
        [ok] = since(h, mark, CALLER)
        assert isinstance(ok, Response)
        self.assertEqual(ok.code, 200)
        self.assertEqual(ok.headerValues("via"), [CALLER_VIA])
        self.assertEqual(ok.toTag, "callee1")
        self.assertEqual(since(h, mark, CALLEE), [])

    def test_strayResponseNotOursDropped(self) -> None:
        """
        A response whose top Via is not the proxy's is dropped (section 18.1.2).
        """
        h = ProxyHarness()
        h.fromCallee("SIP/2.0 200 OK\r\n"
                     "Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-other\r\n"
                     "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-x\r\n"
                     "From: <sip:alice@127.0.0.1>;tag=a\r\nTo: <sip:bob@127.0.0.1>;tag=b\r\n"
                     "Call-ID: stray\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
        self.assertEqual(h.sent, [])


#: The callee's address over TCP.
CALLEE_TCP = Address("tcp", CALLEE.host, CALLEE.port)

#: A body that makes an INVITE larger than 1300 bytes.
LARGE_BODY = "v=0\r\n" + "a=x-filler:%s\r\n" % ("x" * 1400,)


class SizeTests(SynchronousTestCase):
    """
    Requests too large for UDP go over TCP (RFC 3261 section 18.1.1).
    """

    def harness(self) -> ProxyHarness:
        """
        @return: a proxy that listens on TCP too.
        """
        h = ProxyHarness()
        h.service.transport.listensAt(Address("tcp", PROXY.host, PROXY.port))
        return h

    def test_largeRequestOverTCP(self) -> None:
        """
        An INVITE over 1300 bytes for a UDP next hop is sent over TCP, its top Via saying
        TCP, with a second Record-Route for the TCP side (RFC 5658); the responses that
        come back over the connection are forwarded, and the CANCEL follows the INVITE
        over TCP.
        """
        h = self.harness()
        h.fromCaller(h.invite(body=LARGE_BODY))
        self.assertEqual(h.to(CALLEE), [])
        [invite] = h.to(CALLEE_TCP)
        assert isinstance(invite, Request)
        self.assertGreater(len(invite.toBytes()), 1300)
        self.assertRegex(invite.headerValues("via")[0],
                         r"^SIP/2\.0/TCP 127\.0\.0\.1:5060;branch=z9hG4bK[^;]+;rport$")
        self.assertEqual(invite.headerValues("via")[1:], [CALLER_VIA])
        self.assertEqual(invite.headerValues("record-route"),
                         ["<sip:127.0.0.1:5060;transport=tcp;lr>", RECORD_ROUTE])
        self.assertEqual(invite.headerValues("max-forwards"), ["69"])
        h.receive(h.answer(invite, 180), CALLEE_TCP)
        self.assertEqual(codes(h.to(CALLER)), [100, 180])
        h.fromCaller(cancel())
        self.assertEqual(summary(h.to(CALLEE_TCP)), ["INVITE", "CANCEL"])
        self.assertEqual(h.lastRequestTo(CALLEE_TCP).headerValues("via"),
                         invite.headerValues("via")[:1])

    def test_smallRequestOverUDP(self) -> None:
        """
        A request of 1300 bytes or less stays on UDP, and so does a large one when the
        proxy does not listen on TCP (the next hop could not answer over a new connection).
        """
        h = self.harness()
        h.fromCaller(h.invite())
        self.assertEqual(summary(h.to(CALLEE)), ["INVITE"])
        h = ProxyHarness()
        h.fromCaller(h.invite(body=LARGE_BODY))
        self.assertEqual(summary(h.to(CALLEE)), ["INVITE"])
        self.assertEqual(h.to(CALLEE_TCP), [])

    def test_refusedFallsBackToUDP(self) -> None:
        """
        When the TCP connection is refused (a reset in answer to the connection attempt),
        the request goes over UDP instead (RFC 3261 section 18.1.1), with the same branch,
        a UDP Via and one Record-Route, and is retransmitted on Timer A.
        """
        h = self.harness()
        h.fromCaller(h.invite(body=LARGE_BODY))
        tcpInvite = h.lastRequestTo(CALLEE_TCP)
        [(address, failed)] = h.connectFailed
        self.assertEqual(address, CALLEE_TCP)
        failed(Failure(ConnectionRefusedError()))
        [invite] = h.to(CALLEE)
        assert isinstance(invite, Request)
        self.assertRegex(invite.headerValues("via")[0], PROXY_VIA)
        self.assertEqual(topBranch(invite), topBranch(tcpInvite))
        self.assertEqual(invite.headerValues("record-route"), [RECORD_ROUTE])
        self.assertEqual(invite.body, tcpInvite.body)
        h.clock.advance(0.5)
        self.assertEqual(summary(h.to(CALLEE)), ["INVITE", "INVITE"])
        h.fromCallee(h.answer(invite, 180))
        h.fromCaller(cancel())
        self.assertEqual(summary(h.to(CALLEE)), ["INVITE", "INVITE", "CANCEL"])

    def test_otherFailureNoFallback(self) -> None:
        """
        A TCP connection that fails otherwise (timed out) is not retried over UDP: the
        branch ends on Timer B with 408.
        """
        h = self.harness()
        h.fromCaller(h.invite(body=LARGE_BODY))
        [(_, failed)] = h.connectFailed
        failed(Failure(TCPTimedOutError()))
        self.assertEqual(h.to(CALLEE), [])
        h.clock.advance(32)
        self.assertEqual(codes(h.to(CALLER)), [100, 408])


class TimerTests(SynchronousTestCase):
    """
    Timer C (RFC 3261 section 16.8) and Timer B on a forwarded INVITE.
    """

    def ringing(self, *args: str) -> tuple[ProxyHarness, Request]:
        """
        Forward the caller's INVITE and have the callee answer 180 after 10 s (which stops
        Timer B and restarts Timer C).

        @param args: proxy options.
        @return: the harness and the INVITE forwarded.
        """
        h = ProxyHarness(list(args))
        h.fromCaller(h.invite())
        invite = h.lastRequestTo(CALLEE)
        run(h, 10)
        self.assertEqual(summary(h.to(CALLEE)), ["INVITE"] * 5)
        h.fromCallee(h.answer(invite, 180))
        return h, invite

    def test_timerC(self) -> None:
        """
        A branch that got a 180 but no final response within Timer C (181 s after the 180)
        is cancelled downstream (a CANCEL with the INVITE's branch), and its final response
        awaited rather than answered at once (RFC 3261 section 16.8); the callee's 487 is
        acknowledged and stands for a 408, which the caller gets, with its own Via only.
        """
        h, invite = self.ringing()
        mark = len(h.sent)
        h.clock.advance(180.9)
        self.assertEqual(h.sent[mark:], [])
        h.clock.advance(0.2)
        self.assertEqual(summary(since(h, mark, CALLEE)), ["CANCEL"])
        cancelled = h.lastRequestTo(CALLEE)
        self.assertEqual(cancelled.headerValues("via"), invite.headerValues("via")[:1])
        self.assertEqual(cancelled.uri, invite.uri)
        self.assertEqual(cancelled.header("cseq"), "1 CANCEL")
        self.assertEqual(since(h, mark, CALLER), [])
        h.fromCallee(h.answer(cancelled, 200))
        self.assertEqual(since(h, mark, CALLER), [])
        mark = len(h.sent)
        h.fromCallee(h.answer(invite, 487))
        self.assertEqual(summary(since(h, mark, CALLEE)), ["ACK"])
        self.assertEqual(codes(since(h, mark, CALLER)), [408])
        self.assertEqual(h.lastResponseTo(CALLER).headerValues("via"), [CALLER_VIA])
        self.assertEqual(len(h.dialogs), 0)
        h.fromCaller(ackFor(h.lastResponseTo(CALLER)))
        h.clock.advance(40)
        self.assertEqual(h.clock.getDelayedCalls(), [])

    def test_timerCThenSuccess(self) -> None:
        """
        A 200 that crosses the CANCEL sent on Timer C goes to the caller: the call is set
        up, not answered 408 while the callee thinks it connected.
        """
        h, invite = self.ringing()
        h.clock.advance(181.1)
        self.assertEqual(summary(h.to(CALLEE))[-1], "CANCEL")
        h.fromCallee(h.answer(invite, 200))
        self.assertEqual(codes(h.to(CALLER)), [100, 180, 200])

    def test_timerCFinalNeverComes(self) -> None:
        """
        When, after the CANCEL sent on Timer C, no final response comes within 64*T1
        (Timer C fired again), the branch is given up as if it received a 408.
        """
        h, invite = self.ringing()
        h.clock.advance(181.1)
        cancelled = h.lastRequestTo(CALLEE)
        h.fromCallee(h.answer(cancelled, 200))
        run(h, 31.8)
        self.assertEqual(codes(h.to(CALLER)), [100, 180])
        run(h, 0.3)
        self.assertEqual(codes(h.to(CALLER)), [100, 180, 408])

    def test_timerCCancelUnanswered(self) -> None:
        """
        A CANCEL sent on Timer C that gets no response is retransmitted (Timer E) and the
        branch is given up with 408 when its transaction times out (Timer F, 64*T1).
        """
        h, invite = self.ringing()
        h.clock.advance(181.1)
        run(h, 31.8)
        self.assertGreater(methods(h.to(CALLEE)).count("CANCEL"), 1)
        self.assertEqual(codes(h.to(CALLER)), [100, 180])
        run(h, 0.3)
        self.assertEqual(codes(h.to(CALLER)), [100, 180, 408])

    def test_timerCWithoutProvisional(self) -> None:
        """
        A branch with no provisional response when Timer C fires (here before Timer B,
        with T1 = 4 s) is not cancelled (RFC 3261 section 9.1) and behaves as if it
        received a 408 at once.
        """
        h = ProxyHarness(["--t1", "4"])
        h.fromCaller(h.invite())
        h.clock.advance(180.9)
        self.assertEqual(codes(h.to(CALLER)), [100])
        h.clock.advance(0.2)
        self.assertEqual(codes(h.to(CALLER)), [100, 408])
        self.assertNotIn("CANCEL", methods(h.to(CALLEE)))

    def test_timerB(self) -> None:
        """
        An INVITE branch with no response at all is retransmitted (Timer A: 0.5, 1, 2, 4, 8,
        16 s) and given up after Timer B (32 s): the caller gets 408 with its own Via only
        (not the one the proxy put on the forwarded copy), no CANCEL is sent.
        """
        h = ProxyHarness()
        h.fromCaller(h.invite())
        run(h, 31.9)
        self.assertEqual(summary(h.to(CALLEE)), ["INVITE"] * 7)
        self.assertEqual(len({m.toBytes() for m in h.to(CALLEE)}), 1)
        self.assertEqual(codes(h.to(CALLER)), [100])
        run(h, 0.2)
        self.assertEqual(summary(h.to(CALLEE)), ["INVITE"] * 7)
        self.assertEqual(codes(h.to(CALLER)), [100, 408])
        timeout = h.lastResponseTo(CALLER)
        self.assertEqual(timeout.headerValues("via"), [CALLER_VIA])
        self.assertEqual(timeout.headerValues("record-route"), [])
        h.fromCaller(ackFor(timeout))
        h.clock.advance(40)
        self.assertEqual(h.clock.getDelayedCalls(), [])


class CancelTests(SynchronousTestCase):
    """
    CANCEL processing (RFC 3261 sections 9 and 16.10).
    """

    def test_cancelAfterProvisional(self) -> None:
        """
        A CANCEL matching the INVITE is answered 200 at once and cancels the branch with a
        CANCEL carrying the forwarded INVITE's branch; the callee's 487 is forwarded
        upstream (and acknowledged downstream), which removes the early dialog.
        """
        h = ProxyHarness()
        h.fromCaller(h.invite())
        invite = h.lastRequestTo(CALLEE)
        h.fromCallee(h.answer(invite, 180))
        self.assertEqual(len(h.dialogs), 1)
        h.fromCaller(cancel())
        self.assertEqual(summary(h.to(CALLER)), ["100 INVITE", "180 INVITE", "200 CANCEL"])
        self.assertEqual(h.lastResponseTo(CALLER).headerValues("via"), [CALLER_VIA])
        self.assertEqual(summary(h.to(CALLEE)), ["INVITE", "CANCEL"])
        downstream = h.lastRequestTo(CALLEE)
        self.assertEqual(downstream.startLine(), "CANCEL sip:bob@127.0.0.1:5070 SIP/2.0")
        self.assertEqual(downstream.headerValues("via"), invite.headerValues("via")[:1])
        self.assertEqual(downstream.header("cseq"), "1 CANCEL")
        self.assertEqual(downstream.header("to"), invite.header("to"))
        self.assertEqual(downstream.header("from"), invite.header("from"))
        h.fromCallee(h.answer(downstream, 200))
        h.fromCallee(h.answer(invite, 487))
        self.assertEqual(summary(h.to(CALLER)),
                         ["100 INVITE", "180 INVITE", "200 CANCEL", "487 INVITE"])
        terminated = h.lastResponseTo(CALLER)
        self.assertEqual(terminated.headerValues("via"), [CALLER_VIA])
        self.assertEqual(terminated.toTag, "callee1")
        self.assertEqual(summary(h.to(CALLEE)), ["INVITE", "CANCEL", "ACK"])
        self.assertEqual(len(h.dialogs), 0)
        h.fromCaller(ackFor(terminated))
        self.assertEqual(summary(h.to(CALLEE)), ["INVITE", "CANCEL", "ACK"])
        h.clock.advance(40)
        self.assertEqual(h.clock.getDelayedCalls(), [])

    def test_cancelBeforeProvisional(self) -> None:
        """
        A CANCEL that comes before any provisional response is answered 200, but no CANCEL
        goes downstream until the callee's 180 arrives (section 9.1).
        """
        h = ProxyHarness()
        h.fromCaller(h.invite())
        invite = h.lastRequestTo(CALLEE)
        h.fromCaller(cancel())
        self.assertEqual(summary(h.to(CALLER)), ["100 INVITE", "200 CANCEL"])
        self.assertEqual(summary(h.to(CALLEE)), ["INVITE"])
        h.fromCallee(h.answer(invite, 180))
        self.assertEqual(summary(h.to(CALLEE)), ["INVITE", "CANCEL"])
        self.assertEqual(h.lastRequestTo(CALLEE).headerValues("via"),
                         invite.headerValues("via")[:1])
        h.fromCallee(h.answer(h.lastRequestTo(CALLEE), 200))
        h.fromCallee(h.answer(invite, 487))
        self.assertEqual(codes(h.to(CALLER))[-1], 487)

    def test_cancelledNeverAnswered(self) -> None:
        """
        A cancelled INVITE whose branch never answers (so no CANCEL may go downstream) ends
        with 487 to the caller, with the caller's Via only, when Timer B fires.
        """
        h = ProxyHarness()
        h.fromCaller(h.invite())
        h.fromCaller(cancel())
        run(h, 31.9)
        self.assertEqual(summary(h.to(CALLER)), ["100 INVITE", "200 CANCEL"])
        run(h, 0.2)
        self.assertEqual(summary(h.to(CALLER)), ["100 INVITE", "200 CANCEL", "487 INVITE"])
        self.assertEqual(h.lastResponseTo(CALLER).headerValues("via"), [CALLER_VIA])
        self.assertEqual(methods(h.to(CALLEE)), ["INVITE"] * 7)

    def test_cancelWithoutTransaction(self) -> None:
        """
        A CANCEL matching no transaction (here: the proxy restarted after forwarding the
        INVITE) is forwarded statelessly (RFC 3261 section 16.10), not answered: routed as
        the INVITE was, Max-Forwards decremented, under a Via whose branch is the one the
        INVITE was forwarded with, so that it matches the INVITE at the next hop. The
        callee's 200 goes back to the caller by Via, with the caller's Via only; nothing is
        left behind.
        """
        before = ProxyHarness()
        before.fromCaller(before.invite())
        invite = before.lastRequestTo(CALLEE)
        h = ProxyHarness()
        h.fromCaller(cancel())
        self.assertEqual(h.to(CALLER), [])
        [forwarded] = h.to(CALLEE)
        assert isinstance(forwarded, Request)
        self.assertEqual(forwarded.startLine(), "CANCEL sip:bob@127.0.0.1:5070 SIP/2.0")
        self.assertEqual(forwarded.headerValues("via"), invite.headerValues("via"))
        self.assertEqual(forwarded.headerValues("max-forwards"), ["69"])
        self.assertEqual(forwarded.headerValues("record-route"), [])
        self.assertEqual((forwarded.header("cseq"), forwarded.header("to")),
                         ("1 CANCEL", invite.header("to")))
        h.fromCallee(h.answer(forwarded, 200))
        self.assertEqual(summary(h.to(CALLER)), ["200 CANCEL"])
        self.assertEqual(h.lastResponseTo(CALLER).headerValues("via"), [CALLER_VIA])
        self.assertEqual(h.service.transactions.servers, {})
        self.assertEqual(h.service.transactions.clients, {})
        self.assertEqual(h.clock.getDelayedCalls(), [])

    def test_cancelWithoutTransactionRetransmitted(self) -> None:
        """
        A retransmission of a CANCEL forwarded statelessly is forwarded again (a stateless
        proxy keeps no transaction to absorb it), with the same branch; the 481 the next
        hop may answer goes back too.
        """
        h = ProxyHarness()
        h.fromCaller(cancel(branch="z9hG4bK-nothing"))
        h.fromCaller(cancel(branch="z9hG4bK-nothing"))
        first, second = h.to(CALLEE)
        self.assertEqual(first.toBytes(), second.toBytes())
        h.fromCallee(h.answer(second, 481))
        self.assertEqual(summary(h.to(CALLER)), ["481 CANCEL"])

    def test_cancelWithoutTransactionChecked(self) -> None:
        """
        A CANCEL forwarded statelessly goes through the checks its INVITE would: with
        Max-Forwards 0 it gets 483, and for a domain the proxy does not relay for, 403.
        """
        h = ProxyHarness()
        h.fromCaller(request("CANCEL", "sip:bob@127.0.0.1:5070", "Max-Forwards: 0"))
        self.assertEqual(summary(h.to(CALLER)), ["483 CANCEL"])
        h = ProxyHarness(nextHop=False)
        h.fromCaller(request("CANCEL", "sip:bob@example.org", "Max-Forwards: 70"))
        self.assertEqual(summary(h.to(CALLER)), ["403 CANCEL"])
        self.assertEqual([a for m, a in h.sent if a != CALLER], [])

    def test_cancelAfterLocalAnswer(self) -> None:
        """
        A CANCEL matching an INVITE the proxy answered itself gets 200 and has no effect
        (RFC 3261 section 9.2); nothing is forwarded.
        """
        h = ProxyHarness()
        h.fromCaller(h.invite("Proxy-Require: nosuch"))
        self.assertEqual(summary(h.to(CALLER)), ["100 INVITE", "420 INVITE"])
        h.fromCaller(cancel())
        self.assertEqual(summary(h.to(CALLER)), ["100 INVITE", "420 INVITE", "200 CANCEL"])
        self.assertEqual(h.to(CALLEE), [])

    def test_forwardedBranchDeterministic(self) -> None:
        """
        The branch of a forwarded INVITE is derived from the received transaction and the
        target (RFC 3261 section 16.11), not drawn at random: the same INVITE gives the same
        branch in another process; another upstream branch gives another one.
        """
        branches = []
        for upstream in ("z9hG4bK-inv-1", "z9hG4bK-inv-1", "z9hG4bK-inv-2"):
            h = ProxyHarness()
            h.fromCaller(h.invite(branch=upstream))
            branches.append(topBranch(h.lastRequestTo(CALLEE)))
        self.assertEqual(branches[0], branches[1])
        self.assertNotEqual(branches[0], branches[2])


class ForkingTests(SynchronousTestCase):
    """
    Parallel forking to the registered contacts of a user, and choosing the response
    (RFC 3261 section 16.7).
    """

    def fork(self) -> tuple[ProxyHarness, Request, Request]:
        """
        Register two contacts for C{sip:bob@127.0.0.1} and send the caller's INVITE for it.

        @return: the harness and the INVITEs forwarded to L{CALLEE} and L{CALLEE2}.
        """
        h = ProxyHarness(nextHop=False)
        h.fromCallee(register("<sip:bob@127.0.0.1:5070>", "<sip:bob@127.0.0.1:5072>"))
        self.assertEqual(codes(h.to(CALLEE)), [200])
        h.fromCaller(h.invite().replace("INVITE sip:bob@127.0.0.1:5070", "INVITE " + AOR, 1))
        first = h.lastRequestTo(CALLEE)
        second = h.lastRequestTo(CALLEE2)
        self.assertEqual(first.uri, "sip:bob@127.0.0.1:5070")
        self.assertEqual(second.uri, "sip:bob@127.0.0.1:5072")
        self.assertNotEqual(topBranch(first), topBranch(second))
        self.assertEqual(first.headerValues("via")[1:], second.headerValues("via")[1:])
        return h, first, second

    def fromCallee2(self, h: ProxyHarness, invite: Request, code: int) -> None:
        """
        Deliver the second callee's C{code} response to C{invite}.
        """
        h.receive(h.answer(invite, code, toTag="callee2", contact=CALLEE2), CALLEE2)

    def test_bestFailure(self) -> None:
        """
        With both branches failing with 4xx, exactly one final response goes upstream, one
        of the two (here 404, the lower), once both have answered; each is acknowledged.
        """
        h, first, second = self.fork()
        h.fromCallee(h.answer(first, 486))
        self.assertEqual(codes(h.to(CALLER)), [100])
        self.fromCallee2(h, second, 404)
        self.assertEqual(codes(h.to(CALLER)), [100, 404])
        self.assertIn(h.lastResponseTo(CALLER).code, (404, 486))
        self.assertEqual(h.lastResponseTo(CALLER).headerValues("via"), [CALLER_VIA])
        self.assertEqual(summary(h.to(CALLEE))[-2:], ["INVITE", "ACK"])
        self.assertEqual(summary(h.to(CALLEE2)), ["INVITE", "ACK"])

    def test_globalFailureCancelsOthers(self) -> None:
        """
        A 6xx is not forwarded at once: the other branch, which had a 180, is cancelled;
        once it answers 487 the 6xx goes upstream and the early dialog is gone.
        """
        h, first, second = self.fork()
        h.fromCallee(h.answer(first, 180))
        self.assertEqual(codes(h.to(CALLER)), [100, 180])
        self.fromCallee2(h, second, 603)
        self.assertEqual(codes(h.to(CALLER)), [100, 180])
        self.assertEqual(summary(h.to(CALLEE2)), ["INVITE", "ACK"])
        self.assertEqual(methods(h.to(CALLEE))[-1], "CANCEL")
        cancelled = h.lastRequestTo(CALLEE)
        self.assertEqual(cancelled.headerValues("via"), first.headerValues("via")[:1])
        h.fromCallee(h.answer(cancelled, 200))
        h.fromCallee(h.answer(first, 487))
        self.assertEqual(codes(h.to(CALLER)), [100, 180, 603])
        self.assertEqual(h.lastResponseTo(CALLER).toTag, "callee2")
        self.assertEqual(len(h.dialogs), 0)

    def test_successCancelsOthers(self) -> None:
        """
        A 2xx on one branch goes upstream at once and cancels the other ringing branch, whose
        487 is acknowledged and not forwarded; once the 2xx is acknowledged, its dialog is
        the only one left after Timer M (the other fork's early dialog is dropped).
        """
        h, first, second = self.fork()
        h.fromCallee(h.answer(first, 180))
        self.fromCallee2(h, second, 180)
        self.assertEqual(len(h.dialogs), 2)
        self.fromCallee2(h, second, 200)
        self.assertEqual(codes(h.to(CALLER)), [100, 180, 180, 200])
        ok = h.lastResponseTo(CALLER)
        self.assertEqual(ok.toTag, "callee2")
        self.assertEqual(ok.headerValues("via"), [CALLER_VIA])
        self.assertEqual(ok.headerValues("record-route"), [RECORD_ROUTE])
        self.assertEqual(methods(h.to(CALLEE))[-1], "CANCEL")
        cancelled = h.lastRequestTo(CALLEE)
        self.assertEqual(cancelled.headerValues("via"), first.headerValues("via")[:1])
        self.assertEqual(summary(h.to(CALLEE2)), ["INVITE"])
        h.fromCallee(h.answer(cancelled, 200))
        h.fromCallee(h.answer(first, 487))
        self.assertEqual(codes(h.to(CALLER)), [100, 180, 180, 200])
        self.assertEqual(methods(h.to(CALLEE))[-1], "ACK")
        ack = h.inDialog("ACK", cseq=1, toTag="callee2")
        h.fromCaller(ack.replace(":5070 SIP", ":5072 SIP", 1))
        self.assertEqual(summary(h.to(CALLEE2)), ["INVITE", "ACK"])
        h.clock.advance(32.1)
        [dialog] = list(h.dialogs)
        self.assertEqual((dialog.id, dialog.state),
                         (DialogId("call-1", "caller1", "callee2"), DialogState.CONFIRMED))

    def test_everySuccessForwarded(self) -> None:
        """
        When both branches answer 2xx (the second despite the CANCEL), both 2xx go
        upstream, each making a dialog (RFC 6026).
        """
        h, first, second = self.fork()
        h.fromCallee(h.answer(first, 180))
        self.fromCallee2(h, second, 180)
        h.fromCallee(h.answer(first, 200))
        self.assertEqual(methods(h.to(CALLEE2)), ["INVITE", "CANCEL"])
        self.fromCallee2(h, second, 200)
        self.assertEqual(codes(h.to(CALLER)), [100, 180, 180, 200, 200])
        oks = [m for m in h.to(CALLER) if isinstance(m, Response) and m.code == 200]
        self.assertEqual([m.toTag for m in oks], ["callee1", "callee2"])
        for ok in oks:
            self.assertEqual(ok.headerValues("via"), [CALLER_VIA])
        self.assertEqual(sorted(d.id.toTag for d in h.dialogs), ["callee1", "callee2"])


class DialogTests(SynchronousTestCase):
    """
    The dialog table follows the calls through the proxy.
    """

    def test_lifecycle(self) -> None:
        """
        A 180 with a To tag makes an early dialog; the 2xx confirms it (RFC 3261 section
        12), the ACK keeps it so, and the 200 to BYE removes it; once the transactions end
        no timer is left.
        """
        h = ProxyHarness()
        h.fromCaller(h.invite())
        invite = h.lastRequestTo(CALLEE)
        h.fromCallee(h.answer(invite, 180))
        dialogId = DialogId("call-1", "caller1", "callee1")
        [dialog] = list(h.dialogs)
        self.assertEqual((dialog.id, dialog.state), (dialogId, DialogState.EARLY))
        h.fromCallee(h.answer(invite, 200))
        [dialog] = list(h.dialogs)
        self.assertEqual((dialog.id, dialog.state), (dialogId, DialogState.CONFIRMED))
        h.fromCaller(h.inDialog("ACK", cseq=1))
        [dialog] = list(h.dialogs)
        self.assertEqual((dialog.id, dialog.state), (dialogId, DialogState.CONFIRMED))
        h.fromCaller(h.inDialog("BYE"))
        bye = h.lastRequestTo(CALLEE)
        self.assertEqual(len(h.dialogs), 1)
        h.fromCallee(h.answer(bye, 200))
        self.assertEqual(len(h.dialogs), 0)
        self.assertEqual(summary(h.to(CALLER)),
                         ["100 INVITE", "180 INVITE", "200 INVITE", "200 BYE"])
        h.clock.advance(40)
        self.assertEqual(h.clock.getDelayedCalls(), [])

    def test_inDialogRequestsDoNotReparseFrom(self) -> None:
        """
        The ACK and BYE of a dialog carry the From of its INVITE, with a quoted display name:
        the proxy decoded it for the INVITE and does not parse it again to check its display
        name (counted, not timed). Every in-dialog request to the same numeric Request-URI
        goes to the same (immutable) target.
        """
        from sst import headers
        from sst.proxy import core

        h = ProxyHarness()
        h.fromCaller(h.invite())
        invite = h.lastRequestTo(CALLEE)
        h.fromCallee(h.answer(invite, 200))
        calls: list[str] = []
        original = headers.parseNameAddr

        def counting(text: str) -> headers.NameAddr:
            calls.append(text)
            return original(text)

        # Counted in the pure-Python build only: a compiled (mypyc) message module calls
        # its own parseNameAddr, not the module attribute.
        self.patch(headers, "parseNameAddr", counting)
        # The targets remembered by Request-URI text (a dict shared by both builds).
        self.patch(core, "_TARGETS", {})
        h.fromCaller(h.inDialog("ACK", cseq=1))
        targets = list(core._TARGETS.values())
        h.fromCaller(h.inDialog("BYE"))
        self.assertEqual(calls, [])
        self.assertEqual(len(targets), 1)
        self.assertEqual(list(core._TARGETS.values()), targets)
        self.assertIs(core._TARGETS[h.lastRequestTo(CALLEE).uri], targets[0])
        self.assertEqual(summary(h.to(CALLEE)), ["INVITE", "ACK", "BYE"])

    def test_noTagNoEarlyDialog(self) -> None:
        """
        A 180 without a To tag makes no early dialog.
        """
        h = ProxyHarness()
        h.fromCaller(h.invite())
        invite = h.lastRequestTo(CALLEE)
        h.fromCallee(h.answer(invite, 180).replace(";tag=callee1", "", 1))
        self.assertEqual(codes(h.to(CALLER)), [100, 180])
        self.assertEqual(len(h.dialogs), 0)

    def test_rejectionRemovesEarlyDialog(self) -> None:
        """
        A 486 after a 180 removes the early dialog; after the caller's ACK and the
        transactions' end no timer is left.
        """
        h = ProxyHarness()
        h.fromCaller(h.invite())
        invite = h.lastRequestTo(CALLEE)
        h.fromCallee(h.answer(invite, 180))
        self.assertEqual(len(h.dialogs), 1)
        h.fromCallee(h.answer(invite, 486))
        self.assertEqual(len(h.dialogs), 0)
        self.assertEqual(codes(h.to(CALLER)), [100, 180, 486])
        h.fromCaller(ackFor(h.lastResponseTo(CALLER)))
        h.clock.advance(40)
        self.assertEqual(h.clock.getDelayedCalls(), [])


class RegistrarTests(SynchronousTestCase):
    """
    The registrar answers REGISTER for the proxy's domain, and the location service routes
    INVITEs for its users (RFC 3261 sections 10.3 and 16.5).
    """

    def test_register(self) -> None:
        """
        A REGISTER for the proxy's domain is answered 200 locally, listing the binding with
        its lifetime; nothing is forwarded and no 100 is sent.
        """
        h = ProxyHarness(nextHop=False)
        h.fromCallee(register("<sip:bob@127.0.0.1:5070>"))
        [ok] = h.to(CALLEE)
        assert isinstance(ok, Response)
        self.assertEqual((ok.code, ok.header("cseq")), (200, "1 REGISTER"))
        self.assertEqual(ok.headerValues("contact"), ["<sip:bob@127.0.0.1:5070>;expires=3600"])
        self.assertEqual(ok.headerValues("via"),
                         ["SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-reg-1;rport=5070;"
                          "received=127.0.0.1"])
        self.assertIsNotNone(ok.toTag)
        self.assertEqual(len(h.sent), 1)

    def test_unregisteredUser(self) -> None:
        """
        An INVITE for a user of the proxy's domain with no binding gets 480 Temporarily
        Unavailable (the proxy does not send it to itself).
        """
        h = ProxyHarness(nextHop=False)
        h.fromCaller(h.invite().replace("INVITE sip:bob@127.0.0.1:5070", "INVITE " + AOR, 1))
        self.assertEqual(codes(h.to(CALLER)), [100, 480])
        self.assertEqual(h.lastResponseTo(CALLER).phrase, "Temporarily Unavailable")
        self.assertEqual([a for m, a in h.sent if a != CALLER], [])

    def test_registeredUser(self) -> None:
        """
        An INVITE for a registered user is forwarded to the contact, the Request-URI
        rewritten to it (To unchanged), record-routed.
        """
        h = ProxyHarness(nextHop=False)
        h.fromCallee(register("<sip:bob@127.0.0.1:5070;transport=udp>"))
        h.fromCaller(h.invite().replace("INVITE sip:bob@127.0.0.1:5070", "INVITE " + AOR, 1))
        self.assertEqual(codes(h.to(CALLER)), [100])
        forwarded = h.lastRequestTo(CALLEE)
        self.assertEqual(forwarded.startLine(),
                         "INVITE sip:bob@127.0.0.1:5070;transport=udp SIP/2.0")
        self.assertEqual(forwarded.header("to"), "<sip:bob@127.0.0.1:5070>")
        self.assertEqual(forwarded.headerValues("record-route"), [RECORD_ROUTE])
        self.assertRegex(forwarded.headerValues("via")[0], PROXY_VIA)
        self.assertEqual([a for m, a in h.sent if a not in (CALLER, CALLEE)], [])
        self.assertEqual(h.to(PROXY), [])


class ProvidesTests(SynchronousTestCase):
    """
    The proxy's objects provide the interfaces they declare.
    """

    def test_provides(self) -> None:
        """
        L{Proxy} is a transaction user; each forwarded copy of a request (a L{Branch}) and
        the user of a CANCEL are client transaction users; L{NoSessionTimers} is a session
        timer hook and L{DialogCounter} a dialog observer.
        """
        h = ProxyHarness()
        assertProvides(self, ITransactionUser, h.service.proxy)
        h.fromCaller(h.invite())
        [client] = h.service.transactions.clients.values()
        branch = client.user
        assert isinstance(branch, Branch)
        assertProvides(self, IClientTransactionUser, branch)
        assertProvides(self, IClientTransactionUser, _CancelUser(h.service.proxy, branch))
        assertProvides(self, ISessionTimerHook, NoSessionTimers())
        assertProvides(self, IDialogObserver, DialogCounter(Stats()))
