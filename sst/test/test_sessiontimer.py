# -*- test-case-name: sst.test.test_sessiontimer -*-
"""
Tests for L{sst.sessiontimer}: RFC 4028 section 8 proxy behaviour, the seed
module's C{sstCheckMin}, and C{expired_sst}.
"""

from __future__ import annotations

from typing import Optional

from hypothesis import assume, given, settings, strategies as st
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from sst.dialogs import Dialog, DialogId, DialogTable
from sst.headers import SIPParseError, parseMinSE, parseSessionExpires
from sst.interfaces import ISessionTimerPolicy
from sst.dialogs import IDialogObserver
from sst.proxy.hook import ISessionTimerHook
from sst.values import SessionTerms
from sst.message import Request, Response, parse
from sst.sessiontimer import (
    DefaultSessionTimerPolicy,
    ExpiryCounter,
    Responder,
    SessionTimerHook,
    checkMin,
    intervalTooSmall,
)
from sst.stats import Stats
from sst.test._support import assertProvides

#: The Hypothesis profile for these tests: reproducible, bounded, no deadline.
propertySettings = settings(derandomize=True, max_examples=200, deadline=None)

TIMER = "Supported: timer"


def request(
    *headers: str,
    method: str = "INVITE",
    toTag: Optional[str] = None,
) -> Request:
    """
    Parse a request with the mandatory headers and C{headers}.

    @param headers: extra header lines.
    @param method: the method.
    @param toTag: the To tag, making it an in-dialog request.
    """
    to = "To: <sip:bob@example.com>" + (f";tag={toTag}" if toTag else "")
    lines = [
        f"{method} sip:bob@example.com SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-a1",
        "Max-Forwards: 70",
        "From: Alice <sip:alice@example.com>;tag=from-1",
        to,
        "Call-ID: call-1@example.com",
        f"CSeq: 1 {method}",
        *headers,
        "Content-Length: 0",
        "",
        "",
    ]
    message = parse("\r\n".join(lines).encode("latin-1"))
    assert isinstance(message, Request)
    return message


def ok(*headers: str, method: str = "INVITE") -> Response:
    """
    Parse a 200 OK with the mandatory headers and C{headers}.
    """
    lines = [
        "SIP/2.0 200 OK",
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-a1",
        "From: Alice <sip:alice@example.com>;tag=from-1",
        "To: <sip:bob@example.com>;tag=to-1",
        "Call-ID: call-1@example.com",
        f"CSeq: 1 {method}",
        "Contact: <sip:bob@192.0.2.2>",
        *headers,
        "Content-Length: 0",
        "",
        "",
    ]
    message = parse("\r\n".join(lines).encode("latin-1"))
    assert isinstance(message, Response)
    return message


def timedDialog(interval: Optional[int] = 1800) -> Dialog:
    """
    A dialog with session interval C{interval} (L{None}: untimed).
    """
    return Dialog(
        DialogId("call-1@example.com", "from-1", "to-1"),
        0.0,
        3600.0,
        interval=interval,
        refresher=None if interval is None else "uac",
    )


class RecordingServer:
    """
    A L{Responder} that records what it is asked to send.

    @ivar sent: the responses, in order.
    """

    def __init__(self) -> None:
        self.sent: list[Response] = []

    def respond(self, response: Response) -> None:
        self.sent.append(response)


class UntimedPolicy(DefaultSessionTimerPolicy):
    """
    A policy that times nothing (the seed's C{sst_flag} never set).
    """

    def isTimed(self, request: Request) -> bool:
        return False


def hookFor(
    minSE: int = 1800, sessionExpires: int = 1800, rejectTooSmall: bool = True
) -> tuple[SessionTimerHook, Stats]:
    """
    A hook on a L{DefaultSessionTimerPolicy}, with its stats.
    """
    stats = Stats()
    policy = DefaultSessionTimerPolicy(minSE, sessionExpires, rejectTooSmall)
    return SessionTimerHook(policy, stats, newTag=lambda: "tag-422"), stats


class InterfaceTests(SynchronousTestCase):
    """
    Every implementation provides its interface.
    """

    def test_policy(self) -> None:
        """
        L{DefaultSessionTimerPolicy} provides L{ISessionTimerPolicy}.
        """
        assertProvides(self, ISessionTimerPolicy, DefaultSessionTimerPolicy())

    def test_hook(self) -> None:
        """
        L{SessionTimerHook} provides L{ISessionTimerHook}.
        """
        assertProvides(self, ISessionTimerHook, hookFor()[0])

    def test_observer(self) -> None:
        """
        L{ExpiryCounter} provides L{IDialogObserver}.
        """
        assertProvides(self, IDialogObserver, ExpiryCounter(Stats()))

    def test_responder(self) -> None:
        """
        The recording server is a L{Responder} (checked by mypy).
        """
        server: Responder = RecordingServer()
        server.respond(ok())


class DefaultPolicyTests(SynchronousTestCase):
    """
    Tests for L{DefaultSessionTimerPolicy}.
    """

    def test_defaults(self) -> None:
        """
        The defaults are the seed's: min_se 1800, reject_to_small on, and an
        interval of 1800 to insert.
        """
        policy = DefaultSessionTimerPolicy()
        invite = request()
        self.assertEqual(policy.minSE(invite), 1800)
        self.assertEqual(policy.sessionExpires(invite), 1800)
        self.assertTrue(policy.rejectTooSmall(invite))

    def test_values(self) -> None:
        """
        The constructor's values are the answers.
        """
        policy = DefaultSessionTimerPolicy(minSE=90, sessionExpires=600, rejectTooSmall=False)
        invite = request()
        self.assertEqual(policy.minSE(invite), 90)
        self.assertEqual(policy.sessionExpires(invite), 600)
        self.assertFalse(policy.rejectTooSmall(invite))
        self.assertIn("minSE=90", repr(policy))

    def test_minSEBelow90(self) -> None:
        """
        A Min-SE below 90 seconds is refused (RFC 4028 section 5).
        """
        error = self.assertRaises(
            ValueError, DefaultSessionTimerPolicy, minSE=89, sessionExpires=1800
        )
        self.assertIn("90", str(error))

    def test_sessionExpiresBelowMinSE(self) -> None:
        """
        An interval to insert below the minimum is refused.
        """
        self.assertRaises(ValueError, DefaultSessionTimerPolicy, minSE=1800, sessionExpires=1799)

    def test_sessionExpiresTooLarge(self) -> None:
        """
        An interval beyond delta-seconds is refused.
        """
        self.assertRaises(ValueError, DefaultSessionTimerPolicy, sessionExpires=2**32)

    def test_isTimed(self) -> None:
        """
        Every dialog-creating INVITE is timed; re-INVITEs and UPDATEs are not
        initial INVITEs.
        """
        policy = DefaultSessionTimerPolicy()
        self.assertTrue(policy.isTimed(request()))
        self.assertFalse(policy.isTimed(request(toTag="to-1")))
        self.assertFalse(policy.isTimed(request(method="UPDATE", toTag="to-1")))


class CheckMinTests(SynchronousTestCase):
    """
    Tests for L{checkMin} and L{SessionTimerHook.sstCheckMin}, the seed's
    C{sstCheckMin(send_reply_flag)}.
    """

    def test_tooSmall(self) -> None:
        """
        A Session-Expires below the minimum is too small.
        """
        self.assertTrue(checkMin(request("Session-Expires: 50"), 1800))
        self.assertTrue(checkMin(request("Session-Expires: 1799"), 1800))

    def test_largeEnough(self) -> None:
        """
        A Session-Expires at or above the minimum is not too small.
        """
        self.assertFalse(checkMin(request("Session-Expires: 1800"), 1800))

    def test_sessionExpiresOnItsOwn(self) -> None:
        """
        Only Session-Expires is compared: C{Session-Expires: 3600} without a
        Min-SE (an implied 90) is not too small for 1800 (Kamailio K1).
        """
        self.assertFalse(checkMin(request(TIMER, "Session-Expires: 3600"), 1800))
        self.assertFalse(checkMin(request(TIMER, "Session-Expires: 3600", "Min-SE: 90"), 1800))

    def test_absent(self) -> None:
        """
        A request without Session-Expires asks for nothing, so is not too
        small.
        """
        self.assertFalse(checkMin(request(TIMER, "Min-SE: 90"), 1800))

    def test_malformed(self) -> None:
        """
        A malformed Session-Expires raises L{SIPParseError}.
        """
        self.assertRaises(SIPParseError, checkMin, request("Session-Expires: soon"), 1800)

    def test_noReplySendsNothing(self) -> None:
        """
        With C{sendReply} false, a too-small request is reported and nothing
        is sent or counted (the seed's "0" flag, which Kamailio and OpenSIPS
        ignore).
        """
        hook, stats = hookFor()
        server = RecordingServer()
        self.assertTrue(hook.sstCheckMin(request(TIMER, "Session-Expires: 50"), server, False))
        self.assertEqual(server.sent, [])
        self.assertEqual(stats.get("rejected_422"), 0)

    def test_replySends422(self) -> None:
        """
        With C{sendReply} true, a too-small request gets exactly one
        C{422 Session Interval Too Small} with the policy's Min-SE, counted in
        C{rejected_422}.
        """
        hook, stats = hookFor()
        server = RecordingServer()
        self.assertTrue(hook.sstCheckMin(request(TIMER, "Session-Expires: 50"), server, True))
        [response] = server.sent
        self.assertEqual((response.code, response.phrase), (422, "Session Interval Too Small"))
        self.assertEqual(response.header("min-se"), "1800")
        self.assertEqual(stats.get("rejected_422"), 1)

    def test_largeEnoughSendsNothing(self) -> None:
        """
        A request that is not too small gets no reply either way.
        """
        hook, stats = hookFor()
        server = RecordingServer()
        self.assertFalse(hook.sstCheckMin(request(TIMER, "Session-Expires: 3600"), server, True))
        self.assertFalse(hook.sstCheckMin(request(TIMER), server, True))
        self.assertEqual(server.sent, [])
        self.assertEqual(stats.get("rejected_422"), 0)

    def test_noTimerSupportNeverRejected(self) -> None:
        """
        A request from a UAC without C{Supported: timer} is never rejected:
        a 422 would fail the call (RFC 4028 section 8.1).
        """
        hook, stats = hookFor()
        server = RecordingServer()
        self.assertFalse(hook.sstCheckMin(request("Session-Expires: 50"), server, True))
        self.assertEqual(server.sent, [])

    def test_ignoresRejectTooSmall(self) -> None:
        """
        The explicit check replies even when the policy's automatic
        C{reject_to_small} is off.
        """
        hook, stats = hookFor(rejectTooSmall=False)
        server = RecordingServer()
        self.assertTrue(hook.sstCheckMin(request(TIMER, "Session-Expires: 50"), server, True))
        self.assertEqual(len(server.sent), 1)


class IntervalTooSmallTests(SynchronousTestCase):
    """
    Tests for L{intervalTooSmall}, the 422.
    """

    def test_response(self) -> None:
        """
        The 422 copies Via, From, To (adding a tag), Call-ID and CSeq, and
        carries Min-SE.
        """
        invite = request(TIMER, "Session-Expires: 50")
        response = intervalTooSmall(invite, 1800, toTag="t1")
        self.assertEqual(response.code, 422)
        self.assertEqual(response.phrase, "Session Interval Too Small")
        self.assertEqual(response.headerValues("via"), invite.headerValues("via"))
        self.assertEqual(response.header("from"), invite.header("from"))
        self.assertEqual(response.toTag, "t1")
        self.assertEqual(response.header("call-id"), "call-1@example.com")
        self.assertEqual(response.header("cseq"), "1 INVITE")
        self.assertEqual(response.header("min-se"), "1800")
        self.assertIn(b"SIP/2.0 422 Session Interval Too Small\r\n", response.toBytes())

    def test_randomTag(self) -> None:
        """
        Without a tag given, the 422 gets a fresh one.
        """
        invite = request(TIMER, "Session-Expires: 50")
        self.assertTrue(intervalTooSmall(invite, 1800).toTag)

    def test_neverBelowRequestMinSE(self) -> None:
        """
        The 422's Min-SE is never below the request's own Min-SE, so that the
        UAC's retry passes.
        """
        invite = request(TIMER, "Session-Expires: 50", "Min-SE: 2400")
        self.assertEqual(intervalTooSmall(invite, 1800).header("min-se"), "2400")

    def test_neverBelow90(self) -> None:
        """
        The 422's Min-SE is never below 90 seconds.
        """
        invite = request(TIMER, "Session-Expires: 50")
        self.assertEqual(intervalTooSmall(invite, 30).header("min-se"), "90")


class InitialInviteTests(SynchronousTestCase):
    """
    Tests for L{SessionTimerHook.requestReceived} on initial INVITEs (RFC
    4028 section 8.1).
    """

    def assertUnchanged(self, hook: SessionTimerHook, invite: Request) -> None:
        """
        The hook forwards C{invite} byte for byte.
        """
        before = invite.toBytes()
        self.assertIsNone(hook.requestReceived(invite, None))
        self.assertEqual(invite.toBytes(), before)

    def test_seedExample(self) -> None:
        """
        The seed's Example 1-1: an INVITE with C{Session-Expires: 50} and
        C{Supported: timer} gets C{422 Session Interval Too Small} with
        C{Min-SE: 1800}; the retry with 1800/1800 is forwarded unchanged.
        """
        hook, stats = hookFor()
        response = hook.requestReceived(request(TIMER, "Session-Expires: 50"), None)
        assert response is not None
        self.assertEqual(response.code, 422)
        self.assertEqual(response.phrase, "Session Interval Too Small")
        self.assertEqual(response.headerValues("min-se"), ["1800"])
        self.assertEqual(response.toTag, "tag-422")
        self.assertEqual(stats.get("rejected_422"), 1)
        self.assertUnchanged(hook, request(TIMER, "Session-Expires: 1800", "Min-SE: 1800"))
        self.assertEqual(stats.get("rejected_422"), 1)

    def test_boundary(self) -> None:
        """
        Session-Expires equal to the minimum passes; one second less is
        rejected.
        """
        hook, stats = hookFor()
        self.assertUnchanged(hook, request(TIMER, "Session-Expires: 1800"))
        self.assertIsNotNone(hook.requestReceived(request(TIMER, "Session-Expires: 1799"), None))

    def test_largeSessionExpiresNoMinSE(self) -> None:
        """
        C{Session-Expires: 3600} without Min-SE is forwarded unchanged, not
        rejected (Kamailio K1).
        """
        hook, stats = hookFor()
        self.assertUnchanged(hook, request(TIMER, "Session-Expires: 3600"))
        self.assertEqual(stats.get("rejected_422"), 0)

    def test_neverIncreased(self) -> None:
        """
        A Session-Expires at or above the minimum and the request's Min-SE is
        never increased, with or without timer support.
        """
        hook, stats = hookFor()
        self.assertUnchanged(hook, request("Session-Expires: 2000", "Min-SE: 1900"))
        self.assertUnchanged(hook, request(TIMER, "Session-Expires: 2000;refresher=uac"))

    def test_422MinSENotBelowRequest(self) -> None:
        """
        The 422's Min-SE is the request's own Min-SE when that is larger.
        """
        hook, stats = hookFor()
        response = hook.requestReceived(
            request(TIMER, "Session-Expires: 50", "Min-SE: 2400"), None
        )
        assert response is not None
        self.assertEqual(response.header("min-se"), "2400")

    def test_noTimerRaised(self) -> None:
        """
        Without timer support a small Session-Expires is not rejected: Min-SE
        is inserted with our minimum and Session-Expires raised to equal it
        (Kamailio K2 raises only Min-SE).
        """
        hook, stats = hookFor()
        invite = request("Session-Expires: 100")
        self.assertIsNone(hook.requestReceived(invite, None))
        self.assertEqual(invite.header("session-expires"), "1800")
        self.assertEqual(invite.headerValues("min-se"), ["1800"])
        self.assertEqual(stats.get("rejected_422"), 0)

    def test_noTimerMinSERaised(self) -> None:
        """
        Without timer support a smaller Min-SE is raised to our minimum,
        keeping its parameters.
        """
        hook, stats = hookFor()
        invite = request("Session-Expires: 100", "Min-SE: 600;foo=bar")
        self.assertIsNone(hook.requestReceived(invite, None))
        self.assertEqual(invite.headerValues("min-se"), ["1800;foo=bar"])
        self.assertEqual(invite.header("session-expires"), "1800")

    def test_noTimerMinSENeverLowered(self) -> None:
        """
        Without timer support a Min-SE larger than ours is kept, and
        Session-Expires raised to it.
        """
        hook, stats = hookFor()
        invite = request("Session-Expires: 100", "Min-SE: 3000")
        self.assertIsNone(hook.requestReceived(invite, None))
        self.assertEqual(invite.headerValues("min-se"), ["3000"])
        self.assertEqual(invite.header("session-expires"), "3000")

    def test_noTimerKeepsParams(self) -> None:
        """
        Raising Session-Expires keeps its parameters, and adds no refresher.
        """
        hook, stats = hookFor()
        invite = request("Session-Expires: 100;refresher=uac;foo=bar")
        hook.requestReceived(invite, None)
        self.assertEqual(invite.header("session-expires"), "1800;refresher=uac;foo=bar")
        invite = request("Session-Expires: 100;foo")
        hook.requestReceived(invite, None)
        self.assertEqual(invite.header("session-expires"), "1800;foo")

    def test_insertNoRefresher(self) -> None:
        """
        A request without Session-Expires gets one with the policy's interval
        and no refresher parameter.
        """
        hook, stats = hookFor(minSE=90, sessionExpires=1800)
        invite = request(TIMER)
        self.assertIsNone(hook.requestReceived(invite, None))
        self.assertEqual(invite.headerValues("session-expires"), ["1800"])
        self.assertEqual(parseSessionExpires("1800").refresher, None)

    def test_insertConfiguredInterval(self) -> None:
        """
        The inserted interval is the configured one, not the minimum
        (Kamailio K8).
        """
        hook, stats = hookFor(minSE=90, sessionExpires=3600)
        invite = request(TIMER)
        hook.requestReceived(invite, None)
        self.assertEqual(invite.header("session-expires"), "3600")

    def test_insertAtLeastRequestMinSE(self) -> None:
        """
        The inserted interval is never below the request's Min-SE.
        """
        hook, stats = hookFor()
        invite = request(TIMER, "Min-SE: 5000")
        hook.requestReceived(invite, None)
        self.assertEqual(invite.header("session-expires"), "5000")

    def test_timerMinSEUntouched(self) -> None:
        """
        With C{Supported: timer}, a Min-SE below our minimum is left alone and
        none is inserted (RFC 4028 sections 8.1 and 11; Kamailio K3).
        """
        hook, stats = hookFor()
        invite = request(TIMER, "Min-SE: 120")
        hook.requestReceived(invite, None)
        self.assertEqual(invite.headerValues("min-se"), ["120"])
        self.assertEqual(invite.header("session-expires"), "1800")
        invite = request(TIMER)
        hook.requestReceived(invite, None)
        self.assertFalse(invite.hasHeader("min-se"))

    def test_noTimerInsertsMinSE(self) -> None:
        """
        Without timer support, a request without Session-Expires also gets
        our Min-SE, raised but never lowered.
        """
        hook, stats = hookFor()
        invite = request()
        hook.requestReceived(invite, None)
        self.assertEqual(invite.header("session-expires"), "1800")
        self.assertEqual(invite.header("min-se"), "1800")
        invite = request("Min-SE: 600")
        hook.requestReceived(invite, None)
        self.assertEqual(invite.headerValues("min-se"), ["1800"])
        invite = request("Min-SE: 4000")
        hook.requestReceived(invite, None)
        self.assertEqual(invite.headerValues("min-se"), ["4000"])
        self.assertEqual(invite.header("session-expires"), "4000")

    def test_rejectTooSmallOff(self) -> None:
        """
        With C{reject_to_small} off, a too-small request with timer support
        is forwarded unmodified.
        """
        hook, stats = hookFor(rejectTooSmall=False)
        self.assertUnchanged(hook, request(TIMER, "Session-Expires: 300"))
        self.assertUnchanged(hook, request(TIMER, "Session-Expires: 300", "Min-SE: 200"))
        self.assertEqual(stats.get("rejected_422"), 0)

    def test_belowOwnMinSE(self) -> None:
        """
        A Session-Expires below the request's own Min-SE (90 when absent) is
        raised to it: the one change RFC 4028 section 8.1 makes mandatory.
        Min-SE is still untouched with timer support.
        """
        hook, stats = hookFor()
        invite = request(TIMER, "Session-Expires: 1800", "Min-SE: 2400")
        self.assertIsNone(hook.requestReceived(invite, None))
        self.assertEqual(invite.header("session-expires"), "2400")
        self.assertEqual(invite.header("min-se"), "2400")
        hook, stats = hookFor(rejectTooSmall=False)
        # reject_to_small off: a too-small request is forwarded without any
        # modification (the seed), even below 90; the callee's minimum answers.
        self.assertUnchanged(hook, request(TIMER, "Session-Expires: 60"))
        self.assertUnchanged(hook, request(TIMER, "Session-Expires: 60", "Min-SE: 30"))
        self.assertUnchanged(hook, request(TIMER, "Session-Expires: 0"))

    def test_untimed(self) -> None:
        """
        An INVITE the policy does not time is forwarded untouched, even with
        a too-small or malformed Session-Expires.
        """
        hook = SessionTimerHook(UntimedPolicy(), Stats())
        self.assertUnchanged(hook, request(TIMER, "Session-Expires: 50"))
        self.assertUnchanged(hook, request("Session-Expires: soon"))
        self.assertUnchanged(hook, request())

    def test_compactForm(self) -> None:
        """
        The compact forms C{x} and C{k} count as Session-Expires and
        Supported.
        """
        hook, stats = hookFor()
        self.assertIsNotNone(hook.requestReceived(request("k: timer", "x: 50"), None))
        invite = request("x: 100")
        self.assertIsNone(hook.requestReceived(invite, None))
        self.assertEqual(invite.header("session-expires"), "1800")
        self.assertEqual(invite.header("min-se"), "1800")

    def test_whitespaceAndCase(self) -> None:
        """
        Header names, option tags and parameters are case-insensitive, and
        whitespace around C{;} and C{=} is allowed.
        """
        hook, stats = hookFor()
        response = hook.requestReceived(
            request(
                "SUPPORTED: 100rel, TIMER",
                "session-expires:   50  ;  REFRESHER = UAC",
                "min-se: 2400 ; foo = bar",
            ),
            None,
        )
        assert response is not None
        self.assertEqual(response.header("min-se"), "2400")
        self.assertUnchanged(hook, request("k: Timer", "SESSION-EXPIRES: 1800 ; refresher = uas"))

    def test_badValues(self) -> None:
        """
        A Session-Expires or Min-SE that is 0, overflows, is not a number or
        has a bad refresher raises L{SIPParseError} (the proxy answers 400).
        """
        hook, stats = hookFor()
        for header in [
            "Session-Expires: 99999999999",
            "Session-Expires: 4294967296",
            "Session-Expires: soon",
            "Session-Expires: -5",
            "Session-Expires: 1800;refresher=both",
            "Session-Expires: 1800;refresher",
            "Session-Expires: 1800, 3600",
            "Min-SE: 0",
            "Min-SE: 99999999999",
            "Min-SE: ninety",
        ]:
            for supported in [(), (TIMER,)]:
                invite = request(*supported, header)
                self.assertRaises(SIPParseError, hook.requestReceived, invite, None)

    def test_duplicate(self) -> None:
        """
        Duplicate Session-Expires or Min-SE headers are malformed: the parser
        rejects them, and so does the hook for a message edited since.
        """
        self.assertRaises(
            SIPParseError, request, "Session-Expires: 1800", "x: 1800"
        )
        hook, stats = hookFor()
        for name in ["Session-Expires", "Min-SE"]:
            invite = request(TIMER, f"{name}: 1800")
            invite.addHeader(name, "1800")
            error = self.assertRaises(SIPParseError, hook.requestReceived, invite, None)
            self.assertEqual(error.reason, f"duplicate {name}")


class RefreshRequestTests(SynchronousTestCase):
    """
    Tests for L{SessionTimerHook.requestReceived} on re-INVITEs and UPDATEs.
    """

    def test_tooSmallRejected(self) -> None:
        """
        A re-INVITE or UPDATE with timer support and too small a
        Session-Expires gets a 422.
        """
        hook, stats = hookFor()
        for method in ["INVITE", "UPDATE"]:
            refresh = request(TIMER, "Session-Expires: 50", method=method, toTag="to-1")
            response = hook.requestReceived(refresh, timedDialog())
            assert response is not None
            self.assertEqual(response.code, 422)
            self.assertEqual(response.header("min-se"), "1800")
        self.assertEqual(stats.get("rejected_422"), 2)

    def test_rejectTooSmallOff(self) -> None:
        """
        With C{reject_to_small} off, the refresh is forwarded.
        """
        hook, stats = hookFor(rejectTooSmall=False)
        refresh = request(TIMER, "Session-Expires: 300", toTag="to-1")
        before = refresh.toBytes()
        self.assertIsNone(hook.requestReceived(refresh, timedDialog()))
        self.assertEqual(refresh.toBytes(), before)

    def test_noTimerRaised(self) -> None:
        """
        Without timer support a refresh in a timed dialog is never rejected: a
        Session-Expires below our minimum (0 included) is raised to it with
        Min-SE inserted, as in an initial INVITE (section 8.1 is the same for
        every session refresh request); one at or above it is left alone.
        """
        hook, stats = hookFor(minSE=600)
        for value, raised in [("100;refresher=uac", "600;refresher=uac"), ("0", "600")]:
            refresh = request("Session-Expires: " + value, method="UPDATE", toTag="to-1")
            self.assertIsNone(hook.requestReceived(refresh, timedDialog()))
            self.assertEqual(refresh.header("session-expires"), raised)
            self.assertEqual(refresh.header("min-se"), "600")
        refresh = request("Session-Expires: 600", method="UPDATE", toTag="to-1")
        before = refresh.toBytes()
        self.assertIsNone(hook.requestReceived(refresh, timedDialog()))
        self.assertEqual(refresh.toBytes(), before)
        self.assertEqual(stats.get("rejected_422"), 0)

    def test_noSessionExpiresLeft(self) -> None:
        """
        A refresh without Session-Expires is left as it is, even in a timed
        dialog: nothing is inserted.
        """
        hook, stats = hookFor()
        for supported in [(), (TIMER,)]:
            refresh = request(*supported, toTag="to-1")
            before = refresh.toBytes()
            self.assertIsNone(hook.requestReceived(refresh, timedDialog()))
            self.assertEqual(refresh.toBytes(), before)

    def test_validated(self) -> None:
        """
        A malformed Session-Expires or Min-SE in a refresh raises
        L{SIPParseError}, also in an unknown dialog.
        """
        hook, stats = hookFor()
        for header in ["Session-Expires: -1", "x: abc", "Min-SE: 0"]:
            refresh = request(TIMER, header, toTag="to-1")
            self.assertRaises(SIPParseError, hook.requestReceived, refresh, timedDialog())
            self.assertRaises(SIPParseError, hook.requestReceived, refresh, None)

    def test_refreshPasses(self) -> None:
        """
        A valid refresh with a refresher is forwarded untouched.
        """
        hook, stats = hookFor()
        refresh = request(TIMER, "Session-Expires: 1800;refresher=uas", "Min-SE: 90", toTag="to-1")
        before = refresh.toBytes()
        self.assertIsNone(hook.requestReceived(refresh, timedDialog()))
        self.assertEqual(refresh.toBytes(), before)


class ResponseTests(SynchronousTestCase):
    """
    Tests for L{SessionTimerHook.responseReceived} (RFC 4028 section 8.2).
    """

    def forwarded(self, hook: SessionTimerHook, *headers: str) -> Request:
        """
        An initial INVITE with C{headers}, as the hook forwards it.
        """
        invite = request(*headers)
        self.assertIsNone(hook.requestReceived(invite, None))
        return invite

    def test_sessionExpiresKept(self) -> None:
        """
        A 2xx with Session-Expires is not modified, and gives its interval
        and refresher.
        """
        hook, stats = hookFor()
        invite = self.forwarded(hook, TIMER)
        response = ok("Session-Expires: 1800;refresher=uas", "Require: timer")
        before = response.toBytes()
        terms = hook.responseReceived(invite, response, timedDialog(None))
        self.assertEqual(terms, SessionTerms(1800, "uas"))
        self.assertEqual(response.toBytes(), before)

    def test_noRefresher(self) -> None:
        """
        A 2xx with Session-Expires but no refresher is still not modified; the
        interval is reported with no refresher.
        """
        hook, stats = hookFor()
        invite = self.forwarded(hook, TIMER)
        response = ok("Session-Expires: 1800")
        before = response.toBytes()
        self.assertEqual(
            hook.responseReceived(invite, response, timedDialog(None)), SessionTerms(1800, None)
        )
        self.assertEqual(response.toBytes(), before)

    def test_compactAndCase(self) -> None:
        """
        The 2xx's Session-Expires may be compact, spaced and in any case.
        """
        hook, stats = hookFor()
        invite = self.forwarded(hook, TIMER)
        response = ok("x: 1800 ; REFRESHER = UAC ; foo")
        self.assertEqual(
            hook.responseReceived(invite, response, timedDialog(None)), SessionTerms(1800, "uac")
        )

    def test_inserted(self) -> None:
        """
        A 2xx without Session-Expires to a timed INVITE from a UAC with timer
        support gets C{Session-Expires} with C{refresher=uac} and
        C{Require: timer} (Kamailio K5 adds no Require).
        """
        hook, stats = hookFor()
        invite = self.forwarded(hook, TIMER)
        response = ok()
        terms = hook.responseReceived(invite, response, timedDialog(None))
        self.assertEqual(terms, SessionTerms(1800, "uac"))
        self.assertEqual(response.headerValues("session-expires"), ["1800;refresher=uac"])
        self.assertEqual(response.headerValues("require"), ["timer"])
        self.assertIn(b"\r\nRequire: timer\r\n", response.toBytes())

    def test_requireAppended(self) -> None:
        """
        C{timer} is appended to an existing Require: C{100rel} becomes
        C{100rel, timer}.
        """
        hook, stats = hookFor()
        invite = self.forwarded(hook, TIMER)
        response = ok("Require: 100rel")
        hook.responseReceived(invite, response, timedDialog(None))
        self.assertEqual(response.header("require"), "100rel, timer")

    def test_requireLinesMerged(self) -> None:
        """
        Several Require lines are merged into one, with C{timer} last.
        """
        hook, stats = hookFor()
        invite = self.forwarded(hook, TIMER)
        response = ok("Require: 100rel", "Require: precondition")
        hook.responseReceived(invite, response, timedDialog(None))
        self.assertEqual(
            [value for key, value in response.iterHeaders() if key == "require"],
            ["100rel, precondition, timer"],
        )

    def test_requireTimerNotDuplicated(self) -> None:
        """
        A Require that already lists C{timer} is left alone.
        """
        hook, stats = hookFor()
        invite = self.forwarded(hook, TIMER)
        response = ok("Require: Timer")
        hook.responseReceived(invite, response, timedDialog(None))
        self.assertEqual(response.headerValues("require"), ["Timer"])
        self.assertEqual(response.header("session-expires"), "1800;refresher=uac")

    def test_insertedValueIsForwarded(self) -> None:
        """
        The inserted interval is the one forwarded, the UAC's when it asked.
        """
        hook, stats = hookFor()
        invite = self.forwarded(hook, TIMER, "Session-Expires: 3600;refresher=uas")
        response = ok()
        self.assertEqual(
            hook.responseReceived(invite, response, timedDialog(None)), SessionTerms(3600, "uac")
        )
        self.assertEqual(response.header("session-expires"), "3600;refresher=uac")

    def test_noTimerSupportUntimed(self) -> None:
        """
        A 2xx without Session-Expires to a UAC without timer support is left
        alone and the session is untimed, although we asked for a timer
        (Kamailio K4).
        """
        hook, stats = hookFor()
        invite = self.forwarded(hook)
        self.assertEqual(invite.header("session-expires"), "1800")
        response = ok()
        before = response.toBytes()
        self.assertIsNone(hook.responseReceived(invite, response, timedDialog(None)))
        self.assertEqual(response.toBytes(), before)

    def test_noTimerSupportSessionExpires(self) -> None:
        """
        A 2xx with Session-Expires to a UAC without timer support gives the
        UAS's terms, unmodified.
        """
        hook, stats = hookFor()
        invite = self.forwarded(hook, "Session-Expires: 100")
        response = ok("Session-Expires: 1800;refresher=uas")
        before = response.toBytes()
        self.assertEqual(
            hook.responseReceived(invite, response, timedDialog(None)), SessionTerms(1800, "uas")
        )
        self.assertEqual(response.toBytes(), before)

    def test_untimedInvite(self) -> None:
        """
        A 2xx to an INVITE the policy does not time gives L{None} and is left
        alone, even with Session-Expires.
        """
        hook = SessionTimerHook(UntimedPolicy(), Stats())
        invite = request(TIMER, "Session-Expires: 1800")
        for response in [ok(), ok("Session-Expires: 1800;refresher=uac")]:
            before = response.toBytes()
            self.assertIsNone(hook.responseReceived(invite, response, timedDialog(None)))
            self.assertEqual(response.toBytes(), before)

    def test_badSessionExpires(self) -> None:
        """
        A malformed Session-Expires in a 2xx is logged, not raised, and the
        session is untimed.
        """
        hook, stats = hookFor()
        invite = self.forwarded(hook, TIMER)
        response = ok("Session-Expires: 0")
        before = response.toBytes()
        with capturedLogs() as events:
            self.assertIsNone(hook.responseReceived(invite, response, timedDialog(None)))
        self.assertEqual(response.toBytes(), before)
        [event] = events
        self.assertEqual(event["reason"], "Session-Expires of 0")

    def test_notSuccess(self) -> None:
        """
        Only 2xx responses are processed.
        """
        hook, stats = hookFor()
        invite = self.forwarded(hook, TIMER)
        response = ok()
        response.code = 183
        self.assertIsNone(hook.responseReceived(invite, response, timedDialog(None)))
        self.assertFalse(response.hasHeader("session-expires"))

    def test_reInviteWithoutSessionExpiresTurnsOff(self) -> None:
        """
        A 2xx without Session-Expires to a refresh that asked for none turns
        the timer off.
        """
        hook, stats = hookFor()
        refresh = request(TIMER, toTag="to-1")
        response = ok()
        before = response.toBytes()
        self.assertIsNone(hook.responseReceived(refresh, response, timedDialog()))
        self.assertEqual(response.toBytes(), before)

    def test_refreshInserted(self) -> None:
        """
        A 2xx without Session-Expires to a refresh with Session-Expires and
        timer support gets the same insertion as an initial INVITE's.
        """
        hook, stats = hookFor()
        refresh = request(TIMER, "Session-Expires: 1800", method="UPDATE", toTag="to-1")
        response = ok(method="UPDATE")
        self.assertEqual(
            hook.responseReceived(refresh, response, timedDialog()), SessionTerms(1800, "uac")
        )
        self.assertEqual(response.header("require"), "timer")

    def test_refreshTerms(self) -> None:
        """
        A 2xx with Session-Expires to a refresh gives its terms.
        """
        hook, stats = hookFor()
        refresh = request(TIMER, "Session-Expires: 1800", toTag="to-1")
        response = ok("Session-Expires: 900;refresher=uas")
        self.assertEqual(
            hook.responseReceived(refresh, response, timedDialog()), SessionTerms(900, "uas")
        )

    def test_unknownDialog(self) -> None:
        """
        A 2xx to a refresh in an unknown dialog gives L{None}, unmodified.
        """
        hook, stats = hookFor()
        refresh = request(TIMER, "Session-Expires: 1800", toTag="to-1")
        response = ok()
        before = response.toBytes()
        self.assertIsNone(hook.responseReceived(refresh, response, None))
        self.assertEqual(response.toBytes(), before)

    def test_untimedDialog(self) -> None:
        """
        In an untimed dialog, a refresh without Session-Expires gives
        L{None}; one with Session-Expires starts a timer.
        """
        hook, stats = hookFor()
        dialog = timedDialog(None)
        response = ok("Session-Expires: 1800;refresher=uac")
        self.assertIsNone(hook.responseReceived(request(TIMER, toTag="to-1"), response, dialog))
        refresh = request(TIMER, "Session-Expires: 1800", toTag="to-1")
        self.assertEqual(
            hook.responseReceived(refresh, response, dialog), SessionTerms(1800, "uac")
        )


class ExpiryCounterTests(SynchronousTestCase):
    """
    Tests for L{ExpiryCounter}: C{expired_sst}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.stats = Stats()
        self.table = DialogTable(self.clock, defaultLifetime=3600.0)
        self.table.addObserver(ExpiryCounter(self.stats))

    def test_timedExpiry(self) -> None:
        """
        A timed dialog that expires counts in C{expired_sst}.
        """
        self.table.create(DialogId("c", "a", "b"), lifetime=90.0, interval=90, refresher="uac")
        self.clock.advance(90)
        self.assertEqual(len(self.table), 0)
        self.assertEqual(self.stats.get("expired_sst"), 1)

    def test_untimedExpiry(self) -> None:
        """
        An untimed dialog reaching its default lifetime does not count.
        """
        self.table.create(DialogId("c", "a", "b"))
        self.clock.advance(3600)
        self.assertEqual(len(self.table), 0)
        self.assertEqual(self.stats.get("expired_sst"), 0)

    def test_terminated(self) -> None:
        """
        A timed dialog ended by BYE does not count.
        """
        dialogId = DialogId("c", "a", "b")
        self.table.create(dialogId, lifetime=90.0, interval=90, refresher="uac")
        self.table.terminate(dialogId)
        self.clock.advance(100)
        self.assertEqual(self.stats.get("expired_sst"), 0)


@st.composite
def initialInvites(draw: st.DrawFn) -> tuple[Request, DefaultSessionTimerPolicy]:
    """
    A random initial INVITE (timer support or not, Session-Expires and
    Min-SE or not) and a random policy.
    """
    headers = []
    if draw(st.booleans()):
        headers.append(draw(st.sampled_from([TIMER, "k: timer", "Supported: 100rel, TIMER"])))
    se = draw(st.none() | st.integers(1, 20000))
    if se is not None:
        name = draw(st.sampled_from(["Session-Expires", "x", "session-expires"]))
        params = draw(st.sampled_from(["", ";refresher=uac", " ; refresher = UAS", ";foo=bar"]))
        headers.append(f"{name}: {se}{params}")
    minSE = draw(st.none() | st.integers(1, 20000))
    if minSE is not None:
        headers.append(f"Min-SE: {minSE}" + draw(st.sampled_from(["", ";foo=bar"])))
    policyMin = draw(st.integers(90, 7200))
    policy = DefaultSessionTimerPolicy(
        policyMin,
        draw(st.integers(policyMin, 4 * policyMin)),
        draw(st.booleans()),
    )
    return request(*headers), policy


def _minSEOf(message: Request) -> Optional[int]:
    value = message.header("min-se")
    return None if value is None else parseMinSE(value)


class PropertyTests(SynchronousTestCase):
    """
    The negotiation invariants, on random messages.
    """

    @propertySettings
    @given(initialInvites())
    def test_forwardedInvariants(self, case: tuple[Request, DefaultSessionTimerPolicy]) -> None:
        """
        A forwarded initial INVITE has a Session-Expires not below its Min-SE
        (90 when absent); the proxy never lowers or removes a Min-SE, never
        touches it with C{Supported: timer}, never adds or changes a
        refresher, and never increases a Session-Expires that was already at
        or above both minimums.
        """
        invite, policy = case
        hook = SessionTimerHook(policy, Stats())
        timer = invite.hasOptionTag("supported", "timer")
        seText = invite.header("session-expires")
        se = None if seText is None else parseSessionExpires(seText, allowZero=True)
        minSEText = invite.header("min-se")
        minSE = _minSEOf(invite)
        ours = policy.minSE(invite)
        response = hook.requestReceived(invite, None)
        if response is not None:
            self.assertTrue(timer)
            assert se is not None
            self.assertLess(se.delta, ours)
            self.assertEqual(response.code, 422)
            self.assertEqual(response.phrase, "Session Interval Too Small")
            self.assertGreaterEqual(int(response.header("min-se") or 0), max(ours, minSE or 90))
            return
        if timer and se is not None and se.delta < ours and not policy.rejectTooSmall(invite):
            # reject_to_small off: forwarded without any modification.
            self.assertEqual(invite.header("session-expires"), seText)
            self.assertEqual(invite.header("min-se"), minSEText)
            return
        fwdText = invite.header("session-expires")
        assert fwdText is not None
        fwd = parseSessionExpires(fwdText)
        fwdMinSE = _minSEOf(invite)
        self.assertGreaterEqual(fwd.delta, fwdMinSE if fwdMinSE is not None else 90)
        self.assertGreaterEqual(fwd.delta, 90)
        if minSE is not None:
            assert fwdMinSE is not None
            self.assertGreaterEqual(fwdMinSE, minSE)
        if timer:
            self.assertEqual(invite.header("min-se"), minSEText)
        if se is None:
            self.assertIsNone(fwd.refresher)
        else:
            self.assertEqual(fwd.refresher, se.refresher)
            if se.delta >= max(ours, minSE or 90):
                self.assertEqual(fwd.delta, se.delta)
        if not timer:
            self.assertGreaterEqual(fwd.delta, ours)

    @propertySettings
    @given(
        initialInvites(),
        st.none()
        | st.tuples(
            st.integers(90, 20000), st.sampled_from(["", ";refresher=uac", ";refresher=uas"])
        ),
        st.sampled_from([(), ("Require: 100rel",), ("Require: 100rel", "Require: precondition")]),
    )
    def test_responseInvariants(
        self,
        case: tuple[Request, DefaultSessionTimerPolicy],
        answered: Optional[tuple[int, str]],
        require: tuple[str, ...],
    ) -> None:
        """
        A 2xx carrying Session-Expires is never modified; one without it gets
        Session-Expires naming C{refresher=uac}, and C{timer} in Require,
        exactly when the UAC supports timers.
        """
        invite, policy = case
        hook = SessionTimerHook(policy, Stats())
        assume(hook.requestReceived(invite, None) is None)
        timer = invite.hasOptionTag("supported", "timer")
        headers = list(require)
        if answered is not None:
            headers.append("Session-Expires: %d%s" % answered)
        response = ok(*headers)
        before = response.toBytes()
        terms = hook.responseReceived(invite, response, None)
        if answered is not None:
            self.assertEqual(response.toBytes(), before)
            assert terms is not None
            self.assertEqual(terms.interval, answered[0])
            return
        if not timer:
            self.assertIsNone(terms)
            self.assertEqual(response.toBytes(), before)
            return
        value = response.header("session-expires")
        assert value is not None and terms is not None
        inserted = parseSessionExpires(value)
        self.assertEqual(inserted.refresher, "uac")
        existing = [line.partition(": ")[2] for line in require]
        self.assertEqual(response.headerValues("require"), existing + ["timer"])
        forwarded = parseSessionExpires(invite.header("session-expires") or "")
        self.assertEqual(terms, SessionTerms(forwarded.delta, "uac"))
        self.assertEqual(inserted.delta, forwarded.delta)
