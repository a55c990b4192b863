# -*- test-case-name: sst.test.test_b2bua -*-
"""
Tests for L{sst.b2bua}: calls through the B2BUA on a clock, with session timers on each leg.
"""
from __future__ import annotations

import json

from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from sst.b2bua.settings import B2BUASettings
from sst.b2bua.setup import GIVE_UP_PHRASE
from sst.expiry import EXPIRY_REASON
from sst.dialogs import IDialogObserver
from sst.message import Request, Response
from sst.tap import Options
from sst.test.b2bua_harness import ANSWER, CALLEE, CALLER, OFFER, B2BUAHarness
from sst.testing import PROXY
from sst.ua.core import IUAUser
from sst.ua.dialog import IDialogUser
from sst.ua.invite import IInviteUser
from sst.test._support import assertProvides

NEW_OFFER = "v=0\r\no=caller 1 2 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\n"
NEW_ANSWER = "v=0\r\no=callee 7 8 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 5000 RTP/AVP 0\r\n"
ALLOW_UPDATE = "Allow: INVITE, ACK, BYE, CANCEL, UPDATE"


class _B2BUATestCase(SynchronousTestCase):
    """
    Helpers shared by the B2BUA tests.
    """

    def harness(self, *args: str) -> B2BUAHarness:
        """
        @return: a B2BUA harness with C{args} after the session-timer options: a minimum of
            90 s, and 1800 s where no party asks for an interval.
        """
        return B2BUAHarness(["--min-se", "90", "--session-expires", "1800", *args])

    def assertFreed(self, h: B2BUAHarness) -> None:
        """
        Once every transaction has ended, nothing is left: no call, no leg, no UA dialog,
        no table entry, no timer.
        """
        h.settle()
        self.assertEqual(h.b2bua.calls, {})
        self.assertEqual(h.b2bua.legs, {})
        self.assertEqual(h.ua.dialogs, {})
        self.assertEqual(len(h.dialogs), 0)
        self.assertEqual(h.clock.getDelayedCalls(), [])

    def answerByes(self, h: B2BUAHarness) -> None:
        """
        Both parties answer the BYE sst sent them with 200.
        """
        for address in (CALLER, CALLEE):
            byes = h.requestsTo(address, "BYE")
            if byes:
                h.receive(h.reply(byes[-1], 200), address)


class CallTests(_B2BUATestCase):
    """
    Calls set up and torn down through the B2BUA.
    """

    def test_provides(self) -> None:
        """
        L{B2BUA} provides L{IUAUser} and L{IDialogObserver}; a L{Call} is the user of its
        B-leg INVITE (L{IInviteUser}), and each of its L{Leg}s the user of its UA dialog
        (L{IDialogUser}).
        """
        h = self.harness()
        assertProvides(self, IUAUser, h.b2bua)
        assertProvides(self, IDialogObserver, h.b2bua)
        h.fromCaller(h.invite("Session-Expires: 1800", body=OFFER))
        [call] = h.b2bua.calls.values()
        assertProvides(self, IInviteUser, call)
        h.answerB(h.requestsTo(CALLEE, "INVITE")[-1])
        for leg in (call.a, call.b):
            self.assertIs(leg.dialog.user if leg.dialog is not None else None, leg)
            assertProvides(self, IDialogUser, leg)

    def test_bLegInvite(self) -> None:
        """
        The B-leg INVITE has a new Call-ID and From tag, the caller's From and To URIs, its
        body and Content-Type, C{Supported: timer}, the policy's Session-Expires and Min-SE,
        and none of the caller's other headers; Max-Forwards is decremented.
        """
        h = self.harness("--b-session-expires", "600", "--b-min-se", "120")
        h.fromCaller(h.invite("Subject: secret", "Session-Expires: 90", body=OFFER))
        [invite] = h.requestsTo(CALLEE, "INVITE")
        self.assertNotEqual(invite.callId, "call-1")
        self.assertNotEqual(invite.fromTag, "caller1")
        self.assertIsNotNone(invite.fromTag)
        self.assertIsNone(invite.toTag)
        self.assertEqual(str(invite.fromAddr().uri), "sip:alice@127.0.0.1:5061")
        self.assertEqual(invite.body, OFFER.encode())
        self.assertEqual(invite.header("content-type"), "application/sdp")
        self.assertTrue(invite.hasOptionTag("supported", "timer"))
        self.assertEqual(invite.header("session-expires"), "600")
        self.assertEqual(invite.header("min-se"), "120")
        self.assertIsNone(invite.header("subject"))
        self.assertEqual(invite.maxForwards(), 69)
        # 100 Trying went to the caller at once.
        self.assertEqual([r.code for r in h.responsesTo(CALLER)], [100])

    def test_passHeaders(self) -> None:
        """
        The headers the settings name are copied into the B-leg INVITE.
        """
        h = self.harness()
        h.b2bua.settings = B2BUASettings(passHeaders=frozenset(["subject"]))
        h.fromCaller(h.invite("Subject: hello", body=OFFER))
        self.assertEqual(h.requestsTo(CALLEE, "INVITE")[0].header("subject"), "hello")

    def test_callUp(self) -> None:
        """
        The callee's 200 is acknowledged by sst; the caller's 200 carries the callee's answer;
        both legs are in the dialog table, the A-leg confirmed by the caller's ACK.
        """
        h = self.harness()
        h.fromCaller(h.invite(body=OFFER))
        [invite] = h.requestsTo(CALLEE, "INVITE")
        h.answerB(invite, 180)
        ringing = h.responsesTo(CALLER, 180)
        self.assertEqual(len(ringing), 1)
        self.assertIsNotNone(ringing[0].toTag)
        h.answerB(invite, 200)
        [ack] = h.requestsTo(CALLEE, "ACK")
        self.assertEqual(ack.uri, "sip:peer@127.0.0.1:5070")
        self.assertEqual(ack.cseq().number, 1)
        self.assertNotEqual(ack.topVia().branch, invite.topVia().branch)
        [ok] = h.responsesTo(CALLER, 200)
        self.assertEqual(ok.body, ANSWER.encode())
        self.assertEqual(ok.toTag, ringing[0].toTag)
        self.assertEqual(len(h.dialogs), 2)
        states = sorted((d.extra["leg"], d.state.name) for d in h.dialogs)
        self.assertEqual(states, [("a", "EARLY"), ("b", "CONFIRMED")])
        h.fromCaller(h.callerRequest("ACK", ok, cseq=1))
        self.assertEqual(sorted(d.state.name for d in h.dialogs), ["CONFIRMED", "CONFIRMED"])

    def test_dialogsShowLegs(self) -> None:
        """
        Each leg's table entry shows the call, the leg, sst's role, who refreshes and the
        next refresh, as JSON.
        """
        h = self.harness()
        h.establish("Session-Expires: 90", okHeaders=("Session-Expires: 90;refresher=uac",))
        documents = {d.extra["leg"]: json.loads(json.dumps(d.asDict())) for d in h.dialogs}
        self.assertEqual(documents["a"]["extra"], {
            "call": "call-1", "leg": "a", "role": "uas", "sst_refreshes": False,
            "next_refresh": None})
        self.assertEqual(documents["b"]["extra"], {
            "call": "call-1", "leg": "b", "role": "uac", "sst_refreshes": True,
            "next_refresh": 45.0})
        self.assertEqual(documents["a"]["expires_at"], 60.0)

    def test_failureRelayed(self) -> None:
        """
        A final failure from the callee reaches the caller with its code; nothing is left.
        """
        h = self.harness()
        h.fromCaller(h.invite(body=OFFER))
        h.answerB(h.requestsTo(CALLEE, "INVITE")[0], 486, phrase="Busy Here")
        self.assertEqual(h.lastResponseTo(CALLER).code, 486)
        self.assertEqual(len(h.requestsTo(CALLEE, "ACK")), 1)
        self.assertFreed(h)

    def test_503Becomes500(self) -> None:
        """
        A 503 from the callee reaches the caller as 500.
        """
        h = self.harness()
        h.fromCaller(h.invite(body=OFFER))
        h.answerB(h.requestsTo(CALLEE, "INVITE")[0], 503)
        self.assertEqual(h.lastResponseTo(CALLER).code, 500)
        self.assertFreed(h)

    def test_calleeNeverAnswers(self) -> None:
        """
        When the callee never answers, the caller gets 408 at Timer B.
        """
        h = self.harness()
        h.fromCaller(h.invite(body=OFFER))
        h.clock.advance(31.9)
        self.assertEqual([r.code for r in h.responsesTo(CALLER)], [100])
        h.clock.advance(0.2)
        self.assertEqual(h.lastResponseTo(CALLER).code, 408)
        self.assertFreed(h)

    def test_byeFromCaller(self) -> None:
        """
        The caller's BYE is answered 200 and ends the B-leg with BYE.
        """
        h = self.harness()
        ok, _ = h.establish()
        h.fromCaller(h.callerRequest("BYE", ok, cseq=2))
        self.assertEqual(h.lastResponseTo(CALLER).code, 200)
        [bye] = h.requestsTo(CALLEE, "BYE")
        self.assertEqual(bye.toTag, "callee1")
        self.assertEqual(len(h.dialogs), 0)
        h.answerLast(CALLEE, 200)
        self.assertFreed(h)

    def test_byeFromCallee(self) -> None:
        """
        The callee's BYE ends the A-leg with BYE.
        """
        h = self.harness()
        ok, invite = h.establish()
        h.fromCallee(h.calleeRequest("BYE", invite, cseq=1))
        self.assertEqual(h.lastResponseTo(CALLEE).code, 200)
        [bye] = h.requestsTo(CALLER, "BYE")
        self.assertEqual(bye.uri, "sip:alice@127.0.0.1:5061")
        self.assertEqual(bye.fromTag, ok.toTag)
        h.answerLast(CALLER, 200)
        self.assertFreed(h)

    def test_unknownDialog(self) -> None:
        """
        An in-dialog request for no dialog gets 481.
        """
        h = self.harness()
        ok, _ = h.establish()
        h.fromCaller(h.callerRequest("BYE", ok, cseq=2))
        h.answerLast(CALLEE, 200)
        h.fromCaller(h.callerRequest("BYE", ok, cseq=3))
        self.assertEqual(h.lastResponseTo(CALLER).code, 481)
        self.assertFreed(h)

    def test_cancel(self) -> None:
        """
        A CANCEL from the caller is answered 200, the caller gets 487, and the B-leg INVITE is
        cancelled with the branch it was sent with; the callee's 487 is acknowledged.
        """
        h = self.harness()
        h.fromCaller(h.invite(body=OFFER, branch="z9hG4bK-c1"))
        [invite] = h.requestsTo(CALLEE, "INVITE")
        h.answerB(invite, 180)
        cancel = "\r\n".join([
            "CANCEL sip:bob@%s SIP/2.0" % (CALLEE.hostport(),),
            "Via: SIP/2.0/UDP %s;branch=z9hG4bK-c1;rport" % (CALLER.hostport(),),
            "Max-Forwards: 70",
            'From: "alice" <sip:alice@%s>;tag=caller1' % (CALLER.hostport(),),
            "To: <sip:bob@%s>" % (CALLEE.hostport(),),
            "Call-ID: call-1",
            "CSeq: 1 CANCEL",
            "Content-Length: 0",
        ]) + "\r\n\r\n"
        h.fromCaller(cancel)
        codes = [(r.code, r.cseq().method) for r in h.responsesTo(CALLER)]
        self.assertIn((200, "CANCEL"), codes)
        self.assertEqual(codes[-1], (487, "INVITE"))
        [bCancel] = h.requestsTo(CALLEE, "CANCEL")
        self.assertEqual(bCancel.topVia().branch, invite.topVia().branch)
        h.fromCallee(h.reply(bCancel, 200))
        h.answerB(invite, 487)
        self.assertEqual(len(h.requestsTo(CALLEE, "ACK")), 1)
        self.assertFreed(h)

    def test_cancelRace(self) -> None:
        """
        When the callee's 200 crosses the cancelled B-leg INVITE, sst acknowledges it and ends
        the B-leg with BYE; the caller keeps its 487.
        """
        h = self.harness()
        h.fromCaller(h.invite(body=OFFER, branch="z9hG4bK-c2"))
        [invite] = h.requestsTo(CALLEE, "INVITE")
        h.answerB(invite, 180)
        incoming = h.b2bua.calls[next(iter(h.b2bua.calls))].incoming
        assert incoming is not None
        incoming._cancel()
        h.answerB(invite, 200)
        self.assertEqual(len(h.requestsTo(CALLEE, "ACK")), 1)
        self.assertEqual(len(h.requestsTo(CALLEE, "BYE")), 1)
        self.assertEqual(h.responsesTo(CALLER, 200), [])
        h.answerLast(CALLEE, 200)
        self.assertFreed(h)

    def test_2xxRetransmittedUntilAck(self) -> None:
        """
        sst's 200 to the caller is sent again after T1, 2*T1, 4*T1, then every T2, until
        the caller's ACK.
        """
        h = self.harness()
        h.fromCaller(h.invite(body=OFFER))
        h.answerB(h.requestsTo(CALLEE, "INVITE")[0])
        times = []
        for _ in range(24):
            before = len(h.responsesTo(CALLER, 200))
            h.clock.advance(0.5)
            if len(h.responsesTo(CALLER, 200)) > before:
                times.append(h.clock.seconds())
        self.assertEqual(times, [0.5, 1.5, 3.5, 7.5, 11.5])
        ok = h.responsesTo(CALLER, 200)[0]
        h.fromCaller(h.callerRequest("ACK", ok, cseq=1))
        h.clock.advance(10)
        self.assertEqual(len(h.responsesTo(CALLER, 200)), 6)
        self.assertEqual(h.requestsTo(CALLER, "BYE"), [])

    def test_noAckEndsCall(self) -> None:
        """
        Without an ACK for 64*T1 sst sends BYE to the caller and to the callee.
        """
        h = self.harness()
        h.fromCaller(h.invite(body=OFFER))
        h.answerB(h.requestsTo(CALLEE, "INVITE")[0])
        h.clock.advance(31.9)
        self.assertEqual(h.requestsTo(CALLER, "BYE"), [])
        h.clock.advance(0.2)
        self.assertEqual(len(h.requestsTo(CALLER, "BYE")), 1)
        self.assertEqual(len(h.requestsTo(CALLEE, "BYE")), 1)
        self.answerByes(h)
        self.assertFreed(h)

    def test_overload(self) -> None:
        """
        When the dialog table cannot take two more legs, a new call gets 503.
        """
        h = self.harness("--max-dialogs", "1")
        h.fromCaller(h.invite(body=OFFER))
        self.assertEqual(h.lastResponseTo(CALLER).code, 503)
        self.assertEqual(h.requestsTo(CALLEE), [])

    def test_deleteEndsCall(self) -> None:
        """
        C{onDelete} (C{DELETE /dialogs/<id>}) ends the call with BYE on both legs.
        """
        h = self.harness()
        h.establish()
        h.b2bua.onDelete(next(iter(h.dialogs)))
        self.assertEqual(len(h.requestsTo(CALLER, "BYE")), 1)
        self.assertEqual(len(h.requestsTo(CALLEE, "BYE")), 1)
        self.assertEqual(len(h.dialogs), 0)
        self.answerByes(h)
        self.assertFreed(h)


class OperationsTests(_B2BUATestCase):
    """
    The management API in b2bua mode.
    """

    def test_httpDeleteEndsCall(self) -> None:
        """
        C{DELETE /dialogs/<id>} of either leg, served with C{onDelete} as C{makeService}
        wires it, sends BYE on both legs; C{GET /dialogs} shows both legs with their extra
        fields.
        """
        from typing import Any

        from treq.testing import StubTreq

        from sst.web import encodeDialogId, makeResource

        h = self.harness()
        h.establish("Session-Expires: 90")
        resource = makeResource(h.stats, h.dialogs, h.clock, token=b"secret",
                                onDelete=h.b2bua.onDelete)
        stub: Any = StubTreq(resource)
        listed = json.loads(self.successResultOf(stub.content(
            self.successResultOf(stub.get("http://x/dialogs")))))
        self.assertEqual(sorted(d["extra"]["leg"] for d in listed), ["a", "b"])
        b = [d for d in h.dialogs if d.extra["leg"] == "b"][0]
        response = self.successResultOf(stub.delete(
            "http://x/dialogs/" + encodeDialogId(b.id),
            headers={b"authorization": [b"Bearer secret"]}))
        self.assertEqual(response.code, 200)
        self.assertEqual(len(h.requestsTo(CALLER, "BYE")), 1)
        self.assertEqual(len(h.requestsTo(CALLEE, "BYE")), 1)
        self.answerByes(h)
        self.assertFreed(h)


class ALegTimerTests(_B2BUATestCase):
    """
    RFC 4028 section 9 on the A-leg, where sst is the UAS.
    """

    def test_refresherUacByDefault(self) -> None:
        """
        A caller that supports timers and names no refresher is made the refresher:
        C{refresher=uac} and C{Require: timer} in the 200.
        """
        h = self.harness()
        ok, _ = h.establish("Session-Expires: 120")
        self.assertEqual(ok.header("session-expires"), "120;refresher=uac")
        self.assertTrue(ok.hasOptionTag("require", "timer"))

    def test_tooSmall422(self) -> None:
        """
        A C{Supported: timer} INVITE below our minimum gets 422 with Min-SE, and no B-leg.
        """
        h = B2BUAHarness(["--min-se", "1800"])
        h.fromCaller(h.invite("Session-Expires: 100", body=OFFER))
        response = h.lastResponseTo(CALLER)
        self.assertEqual((response.code, response.header("min-se")), (422, "1800"))
        self.assertEqual(response.phrase, "Session Interval Too Small")
        self.assertEqual(h.requestsTo(CALLEE), [])
        self.assertEqual(h.stats.get("rejected_422"), 1)
        self.assertFreed(h)

    def test_noSupportRaised(self) -> None:
        """
        A caller without timer support is never rejected: the interval is raised to our
        minimum and sst refreshes (C{refresher=uas}, no Require).
        """
        h = B2BUAHarness(["--min-se", "1800"])
        ok, _ = h.establish("Session-Expires: 100", supported=None)
        self.assertEqual(ok.header("session-expires"), "1800;refresher=uas")
        self.assertFalse(ok.hasHeader("require"))

    def test_zeroSessionExpires(self) -> None:
        """
        C{Session-Expires: 0} is an interval below any minimum, not a malformed header: with
        C{Supported: timer} it gets 422 with our Min-SE, without it the call is placed with
        the interval raised to our minimum (RFC 4028 section 9, erratum 1687).
        """
        h = B2BUAHarness(["--min-se", "1800"])
        h.fromCaller(h.invite("Session-Expires: 0", body=OFFER))
        response = h.lastResponseTo(CALLER)
        self.assertEqual((response.code, response.header("min-se")), (422, "1800"))
        h = B2BUAHarness(["--min-se", "1800"])
        ok, _ = h.establish("Session-Expires: 0", supported=None)
        self.assertEqual((ok.code, ok.header("session-expires")), (200, "1800;refresher=uas"))

    def test_zeroSessionExpiresInRefresh(self) -> None:
        """
        A refresh with C{Session-Expires: 0} and C{Supported: timer} gets 422 with Min-SE.
        """
        h = self.harness()
        ok, _ = h.establish("Session-Expires: 90")
        h.fromCaller(h.callerRequest("UPDATE", ok, "Supported: timer",
                                     "Session-Expires: 0", cseq=2))
        answer = h.lastResponseTo(CALLER)
        self.assertEqual(answer.code, 422)

    def test_callerWithoutTimerSupport(self) -> None:
        """
        A caller without timer support and without Session-Expires gets the policy's interval
        with C{refresher=uas}; sst refreshes the A-leg at SE/2 with a re-INVITE carrying its
        current SDP (the caller's Allow does not list UPDATE), and the 200 re-arms it.
        """
        h = self.harness()
        ok, _ = h.establish("Session-Expires: 90", supported=None)
        self.assertEqual(ok.header("session-expires"), "90;refresher=uas")
        self.assertFalse(ok.hasHeader("require"))
        h.clock.advance(44.9)
        self.assertEqual(h.requestsTo(CALLER, "INVITE"), [])
        h.clock.advance(0.1)
        [refresh] = h.requestsTo(CALLER, "INVITE")
        self.assertEqual(refresh.uri, "sip:alice@127.0.0.1:5061")
        self.assertEqual(refresh.header("session-expires"), "90;refresher=uac")
        self.assertEqual(refresh.body, ANSWER.encode())
        self.assertEqual(refresh.fromTag, ok.toTag)
        h.fromCaller(h.reply(refresh, 200, body=OFFER, contact=CALLER))
        self.assertEqual(len(h.requestsTo(CALLER, "ACK")), 1)
        h.clock.advance(44.9)
        self.assertEqual(len(h.requestsTo(CALLER, "INVITE")), 1)
        h.clock.advance(0.1)
        self.assertEqual(len(h.requestsTo(CALLER, "INVITE")), 2)

    def test_maxSE(self) -> None:
        """
        With --max-se, a caller asking for more gets the cap in the 2xx (never below its
        Min-SE), and the B-leg asks for no more than the cap either.
        """
        h = B2BUAHarness(["--min-se", "90", "--session-expires", "1800", "--max-se", "3600"])
        ok, _ = h.establish("Session-Expires: 86400")
        self.assertEqual(ok.header("session-expires"), "3600;refresher=uac")
        self.assertEqual(h.requestsTo(CALLEE, "INVITE")[0].header("session-expires"), "1800")
        h = B2BUAHarness(["--min-se", "90", "--session-expires", "1800", "--max-se", "3600"])
        ok, _ = h.establish("Session-Expires: 86400", "Min-SE: 5000")
        self.assertEqual(ok.header("session-expires"), "5000;refresher=uac")

    def test_refresherInRequest(self) -> None:
        """
        A refresher named in the INVITE is honoured: C{refresher=uas} makes sst refresh.
        """
        h = self.harness()
        ok, _ = h.establish("Session-Expires: 90;refresher=uas")
        self.assertEqual(ok.header("session-expires"), "90;refresher=uas")
        h.clock.advance(45)
        self.assertEqual(len(h.requestsTo(CALLER, "INVITE")), 1)

    def test_refresherLocal(self) -> None:
        """
        C{--refresher local} makes sst the A-leg refresher and asks for C{refresher=uac} on
        the B-leg.
        """
        h = self.harness("--refresher", "local")
        ok, invite = h.establish("Session-Expires: 90")
        self.assertEqual(ok.header("session-expires"), "90;refresher=uas")
        self.assertEqual(invite.header("session-expires"), "1800;refresher=uac")

    def test_callerRefreshAnsweredLocally(self) -> None:
        """
        A re-INVITE from the caller with the same SDP is a pure refresh: answered here with
        Session-Expires echoed and our SDP, not relayed; the A-leg expiry is re-armed.
        """
        h = self.harness()
        ok, _ = h.establish("Session-Expires: 90", okHeaders=(ALLOW_UPDATE,))
        h.clock.advance(40)
        h.fromCaller(h.callerRequest("INVITE", ok, "Supported: timer",
                                     "Session-Expires: 90;refresher=uac", cseq=2, body=OFFER))
        answer = h.lastResponseTo(CALLER)
        self.assertEqual(answer.code, 200)
        self.assertEqual(answer.header("session-expires"), "90;refresher=uac")
        self.assertTrue(answer.hasOptionTag("require", "timer"))
        self.assertEqual(answer.body, ANSWER.encode())
        self.assertEqual(h.requestsTo(CALLEE, "INVITE")[1:], [])
        h.fromCaller(h.callerRequest("ACK", answer, cseq=2))
        h.clock.advance(40)
        self.assertEqual(h.requestsTo(CALLER, "BYE"), [])
        self.assertEqual(h.stats.get("refreshes_received"), 1)

    def test_callerUpdateRefresh(self) -> None:
        """
        An UPDATE without body from the caller is answered here with Session-Expires.
        """
        h = self.harness()
        ok, _ = h.establish("Session-Expires: 90")
        h.clock.advance(30)
        h.fromCaller(h.callerRequest("UPDATE", ok, "Supported: timer",
                                     "Session-Expires: 90;refresher=uac", cseq=2))
        answer = h.lastResponseTo(CALLER)
        self.assertEqual((answer.code, answer.header("session-expires")), (200, "90;refresher=uac"))
        self.assertEqual(answer.body, b"")
        self.assertEqual(h.requestsTo(CALLEE, "UPDATE"), [])

    def test_refreshTooSmall(self) -> None:
        """
        A refresh asking for less than our minimum gets 422 with Min-SE.
        """
        h = self.harness()
        ok, _ = h.establish("Session-Expires: 90")
        h.b2bua.calls[next(iter(h.b2bua.calls))].a.localMin = 120
        h.fromCaller(h.callerRequest("UPDATE", ok, "Supported: timer",
                                     "Session-Expires: 100", cseq=2))
        answer = h.lastResponseTo(CALLER)
        self.assertEqual((answer.code, answer.header("min-se")), (422, "120"))

    def test_reinviteWithNewOfferRelayed(self) -> None:
        """
        A re-INVITE with a new offer goes to the callee (with the B-leg's session timer); the
        callee's answer comes back in the caller's 200, and both legs are re-armed.
        """
        h = self.harness()
        ok, invite = h.establish("Session-Expires: 90",
                                 okHeaders=("Session-Expires: 90;refresher=uas",))
        h.clock.advance(30)
        h.fromCaller(h.callerRequest("INVITE", ok, "Supported: timer", "Session-Expires: 90",
                                     cseq=2, body=NEW_OFFER))
        relayed = h.requestsTo(CALLEE, "INVITE")[-1]
        self.assertEqual(relayed.body, NEW_OFFER.encode())
        self.assertEqual(relayed.callId, invite.callId)
        self.assertEqual(relayed.header("session-expires"), "90;refresher=uas")
        self.assertEqual(relayed.header("min-se"), "90")
        h.fromCallee(h.reply(relayed, 200, "Session-Expires: 90;refresher=uas", body=NEW_ANSWER,
                             contact=CALLEE))
        self.assertEqual(len(h.requestsTo(CALLEE, "ACK")), 2)
        answer = h.lastResponseTo(CALLER)
        self.assertEqual(answer.code, 200)
        self.assertEqual(answer.body, NEW_ANSWER.encode())
        self.assertEqual(answer.header("session-expires"), "90;refresher=uac")
        h.fromCaller(h.callerRequest("ACK", answer, cseq=2))
        # Both legs re-armed at 30 s: nothing expires at 60 s.
        h.clock.advance(45)
        self.assertEqual(h.requestsTo(CALLER, "BYE"), [])
        # A second identical re-INVITE is now a pure refresh.
        h.fromCaller(h.callerRequest("INVITE", ok, "Supported: timer", "Session-Expires: 90",
                                     cseq=3, body=NEW_OFFER))
        self.assertEqual(h.lastResponseTo(CALLER).body, NEW_ANSWER.encode())
        self.assertEqual(len(h.requestsTo(CALLEE, "INVITE")), 2)

    def test_relayedReinviteRejected(self) -> None:
        """
        The callee's rejection of a relayed offer reaches the caller.
        """
        h = self.harness()
        ok, _ = h.establish("Session-Expires: 90")
        h.fromCaller(h.callerRequest("INVITE", ok, cseq=2, body=NEW_OFFER))
        h.answerLast(CALLEE, 488)
        self.assertEqual(h.lastResponseTo(CALLER).code, 488)

    def test_refreshCarriesCallersMinSE(self) -> None:
        """
        sst's refresh on the A-leg carries the Min-SE the caller sent in its INVITE (the
        largest seen in the dialog, RFC 4028 section 7.4), not the 90 s floor, and a
        Session-Expires not below it.
        """
        h = self.harness()
        ok, _ = h.establish("Session-Expires: 300;refresher=uas", "Min-SE: 300")
        self.assertEqual(ok.header("session-expires"), "300;refresher=uas")
        h.clock.advance(150)
        [refresh] = h.requestsTo(CALLER, "INVITE")
        self.assertEqual(refresh.header("min-se"), "300")
        self.assertEqual(refresh.header("session-expires"), "300;refresher=uac")

    def test_refreshCarriesCallersMinSEWithoutTimerSupport(self) -> None:
        """
        A caller without timer support may still send Min-SE: sst's refreshes honour it.
        """
        h = self.harness()
        ok, _ = h.establish("Session-Expires: 200", "Min-SE: 200", supported=None)
        self.assertEqual(ok.header("session-expires"), "200;refresher=uas")
        h.clock.advance(100)
        [refresh] = h.requestsTo(CALLER, "INVITE")
        self.assertEqual(refresh.header("min-se"), "200")
        self.assertEqual(refresh.header("session-expires"), "200;refresher=uac")

    def test_refreshHonoursLargerMinSEOfCallersRefresh(self) -> None:
        """
        A larger Min-SE in a refresh from the caller without Session-Expires raises the
        interval of the 200 to it (section 9), and the Min-SE and Session-Expires of sst's
        next refresh: a refresh never asks for less than the largest Min-SE of the dialog.
        """
        h = self.harness()
        ok, _ = h.establish("Session-Expires: 120;refresher=uas", "Min-SE: 120")
        h.clock.advance(30)
        h.fromCaller(h.callerRequest("UPDATE", ok, "Supported: timer", "Min-SE: 600", cseq=2))
        answer = h.lastResponseTo(CALLER)
        self.assertEqual((answer.code, answer.header("session-expires")),
                         (200, "600;refresher=uas"))
        h.clock.advance(299.9)
        self.assertEqual(h.requestsTo(CALLER, "INVITE"), [])
        h.clock.advance(0.1)
        [refresh] = h.requestsTo(CALLER, "INVITE")
        self.assertEqual(refresh.header("min-se"), "600")
        self.assertEqual(refresh.header("session-expires"), "600;refresher=uac")

    def test_relayedOfferCarriesCallersMinSE(self) -> None:
        """
        A re-INVITE with a new offer from the callee reaches the caller with the A-leg's
        session timer and the caller's Min-SE.
        """
        h = self.harness()
        _, invite = h.establish("Session-Expires: 300", "Min-SE: 250")
        h.fromCallee(h.calleeRequest("INVITE", invite, "Supported: timer", cseq=2,
                                     body=NEW_ANSWER))
        relayed = h.requestsTo(CALLER, "INVITE")[-1]
        self.assertEqual(relayed.header("session-expires"), "300;refresher=uas")
        self.assertEqual(relayed.header("min-se"), "250")

class BLegTimerTests(_B2BUATestCase):
    """
    RFC 4028 section 7 on the B-leg, where sst is the UAC, and sst's refreshes.
    """

    def test_refreshByUpdateWhenAllowed(self) -> None:
        """
        When the callee's Allow lists UPDATE, sst refreshes the B-leg at SE/2 with an UPDATE
        without body; its 200 re-arms the next refresh SE/2 later.
        """
        h = self.harness()
        h.establish(okHeaders=("Session-Expires: 90;refresher=uac", "Require: timer",
                               ALLOW_UPDATE))
        h.clock.advance(44.9)
        self.assertEqual(h.requestsTo(CALLEE, "UPDATE"), [])
        h.clock.advance(0.1)
        [update] = h.requestsTo(CALLEE, "UPDATE")
        self.assertEqual(update.body, b"")
        self.assertEqual(update.header("session-expires"), "90;refresher=uac")
        self.assertEqual(update.header("min-se"), "90")
        self.assertTrue(update.hasOptionTag("supported", "timer"))
        self.assertEqual(update.cseq().number, 2)
        h.answerLast(CALLEE, 200, "Session-Expires: 90;refresher=uac")
        h.clock.advance(44.9)
        self.assertEqual(len(h.requestsTo(CALLEE, "UPDATE")), 1)
        h.clock.advance(0.1)
        self.assertEqual(len(h.requestsTo(CALLEE, "UPDATE")), 2)
        self.assertEqual(h.stats.get("refreshes_sent"), 2)

    def test_refreshByInviteWithoutAllow(self) -> None:
        """
        Without UPDATE in the callee's Allow, the refresh is a re-INVITE with the current
        SDP, acknowledged when answered.
        """
        h = self.harness()
        h.establish(okHeaders=("Session-Expires: 90;refresher=uac",))
        h.clock.advance(45)
        refresh = h.requestsTo(CALLEE, "INVITE")[-1]
        self.assertEqual(refresh.cseq().number, 2)
        self.assertEqual(refresh.body, OFFER.encode())
        self.assertEqual(refresh.header("content-type"), "application/sdp")
        h.answerLast(CALLEE, 200, "Session-Expires: 90;refresher=uac", body=ANSWER)
        self.assertEqual([a.cseq().number for a in h.requestsTo(CALLEE, "ACK")], [1, 2])

    def test_refreshMethodInvite(self) -> None:
        """
        C{--refresh-method invite} refreshes with re-INVITE even when UPDATE is allowed.
        """
        h = self.harness("--refresh-method", "invite")
        h.establish(okHeaders=("Session-Expires: 90;refresher=uac", ALLOW_UPDATE))
        h.clock.advance(45)
        self.assertEqual(h.requestsTo(CALLEE, "UPDATE"), [])
        self.assertEqual(len(h.requestsTo(CALLEE, "INVITE")), 2)

    def test_noSessionExpiresIn2xx(self) -> None:
        """
        A 2xx without Session-Expires still gets refreshed by sst, as UAC, at SE/2 of the
        interval it asked for (section 7.2).
        """
        h = self.harness("--b-session-expires", "120")
        h.establish()
        h.clock.advance(59.9)
        self.assertEqual(len(h.requestsTo(CALLEE, "INVITE")), 1)
        h.clock.advance(0.1)
        self.assertEqual(len(h.requestsTo(CALLEE, "INVITE")), 2)

    def test_calleeRefresher(self) -> None:
        """
        When the callee takes the refresher role sst sends nothing, answers the callee's
        refresh itself, and keeps the call.
        """
        h = self.harness()
        ok, invite = h.establish(okHeaders=("Session-Expires: 90;refresher=uas",))
        h.clock.advance(45)
        self.assertEqual(len(h.requestsTo(CALLEE)), 2)  # INVITE and ACK only
        h.fromCallee(h.calleeRequest("UPDATE", invite, "Supported: timer",
                                     "Session-Expires: 90;refresher=uac", cseq=1))
        answer = h.lastResponseTo(CALLEE)
        self.assertEqual((answer.code, answer.header("session-expires")), (200, "90;refresher=uac"))
        self.assertEqual(h.requestsTo(CALLER, "UPDATE"), [])

    def test_422RetriedWithNewFromTag(self) -> None:
        """
        A 422 from the callee is retried by sst: same Call-ID, CSeq+1, a new From tag, the
        422's Min-SE and a Session-Expires raised to it. The caller never sees the 422.
        """
        h = self.harness()
        h.fromCaller(h.invite("Session-Expires: 90", body=OFFER))
        [first] = h.requestsTo(CALLEE, "INVITE")
        h.fromCallee(h.reply(first, 422, "Min-SE: 1800", phrase="Session Interval Too Small"))
        self.assertEqual(len(h.requestsTo(CALLEE, "ACK")), 1)
        second = h.requestsTo(CALLEE, "INVITE")[-1]
        self.assertEqual(second.callId, first.callId)
        self.assertEqual(second.cseq().number, 2)
        self.assertNotEqual(second.fromTag, first.fromTag)
        self.assertEqual(second.header("min-se"), "1800")
        self.assertEqual(second.header("session-expires"), "1800")
        self.assertEqual(second.body, OFFER.encode())
        self.assertEqual(h.responsesTo(CALLER, 422), [])
        h.answerB(second, 200, "Session-Expires: 1800;refresher=uac")
        ok = h.lastResponseTo(CALLER)
        self.assertEqual(ok.code, 200)
        self.assertEqual(ok.header("session-expires"), "90;refresher=uac")
        legs = {d.extra["leg"]: d for d in h.dialogs}
        self.assertEqual(legs["b"].interval, 1800)
        self.assertEqual(legs["b"].id.fromTag, second.fromTag)
        self.assertEqual([r.code for r in h.responsesTo(CALLER)], [100, 200])

    def test_second422GivesUp(self) -> None:
        """
        A 422 to the retried INVITE fails the call with 500 to the caller.
        """
        h = self.harness()
        h.fromCaller(h.invite(body=OFFER))
        h.fromCallee(h.reply(h.requestsTo(CALLEE, "INVITE")[0], 422, "Min-SE: 1800"))
        h.fromCallee(h.reply(h.requestsTo(CALLEE, "INVITE")[1], 422, "Min-SE: 3600"))
        self.assertEqual(len(h.requestsTo(CALLEE, "INVITE")), 2)
        response = h.lastResponseTo(CALLER)
        self.assertEqual((response.code, response.phrase), (500, GIVE_UP_PHRASE))
        self.assertFreed(h)

    def test_422NotIncreasing(self) -> None:
        """
        A 422 whose Min-SE is not above what sst sent is not retried: 500 to the caller.
        """
        h = self.harness()
        h.fromCaller(h.invite(body=OFFER))
        h.fromCallee(h.reply(h.requestsTo(CALLEE, "INVITE")[0], 422, "Min-SE: 90"))
        self.assertEqual(len(h.requestsTo(CALLEE, "INVITE")), 1)
        self.assertEqual(h.lastResponseTo(CALLER).code, 500)
        self.assertFreed(h)

    def test_glareBackoffOwner(self) -> None:
        """
        A 491 to sst's refresh re-INVITE on the B-leg (whose Call-ID sst chose) is retried
        after 2.1 to 4 s.
        """
        h = self.harness()
        draws: list[tuple[float, float]] = []

        def uniform(low: float, high: float) -> float:
            draws.append((low, high))
            return high

        h.b2bua.uniform = uniform
        h.establish(okHeaders=("Session-Expires: 90;refresher=uac",))
        h.clock.advance(45)
        h.answerLast(CALLEE, 491)
        self.assertEqual(draws, [(2.1, 4.0)])
        h.clock.advance(3.9)
        self.assertEqual(len(h.requestsTo(CALLEE, "INVITE")), 2)
        h.clock.advance(0.1)
        self.assertEqual(len(h.requestsTo(CALLEE, "INVITE")), 3)

    def test_glareBackoffNotOwner(self) -> None:
        """
        On the A-leg (whose Call-ID the caller chose) the back-off is 0 to 2 s.
        """
        h = self.harness()
        draws: list[tuple[float, float]] = []

        def uniform(low: float, high: float) -> float:
            draws.append((low, high))
            return high

        h.b2bua.uniform = uniform
        h.establish("Session-Expires: 90", supported=None)
        h.clock.advance(45)
        h.answerLast(CALLER, 491)
        self.assertEqual(draws, [(0.0, 2.0)])
        h.clock.advance(2)
        self.assertEqual(len(h.requestsTo(CALLER, "INVITE")), 2)

    def test_incomingReinviteGlare(self) -> None:
        """
        A re-INVITE from the callee while sst's own re-INVITE is pending gets 491.
        """
        h = self.harness()
        ok, invite = h.establish(okHeaders=("Session-Expires: 90;refresher=uac",))
        h.clock.advance(45)
        h.fromCallee(h.calleeRequest("INVITE", invite, cseq=1, body=NEW_ANSWER))
        self.assertEqual(h.lastResponseTo(CALLEE).code, 491)

    def test_481OnRefreshEndsBothLegs(self) -> None:
        """
        A 481 to sst's refresh ends the B-leg without BYE and the A-leg with a BYE.
        """
        h = self.harness()
        h.establish(okHeaders=("Session-Expires: 90;refresher=uac", ALLOW_UPDATE))
        h.clock.advance(45)
        h.answerLast(CALLEE, 481)
        self.assertEqual(h.requestsTo(CALLEE, "BYE"), [])
        [bye] = h.requestsTo(CALLER, "BYE")
        self.assertIn("cause=481", bye.header("reason") or "")
        self.assertEqual(len(h.dialogs), 0)
        self.answerByes(h)
        self.assertFreed(h)

    def test_408OnRefreshEndsBothLegs(self) -> None:
        """
        A 408 to sst's refresh ends both legs with BYE.
        """
        h = self.harness()
        h.establish(okHeaders=("Session-Expires: 90;refresher=uac", ALLOW_UPDATE))
        h.clock.advance(45)
        h.answerLast(CALLEE, 408)
        self.assertEqual(len(h.requestsTo(CALLEE, "BYE")), 1)
        self.assertEqual(len(h.requestsTo(CALLER, "BYE")), 1)
        self.answerByes(h)
        self.assertFreed(h)

    def test_refreshTimeoutEndsBothLegs(self) -> None:
        """
        A refresh that gets no answer ends both legs with BYE at Timer F (SE 1800: the
        refresh at 900 s times out at 932 s, before the BYE margin).
        """
        h = self.harness()
        h.establish(okHeaders=("Session-Expires: 1800;refresher=uac", ALLOW_UPDATE))
        h.clock.advance(900)
        self.assertEqual(len(h.requestsTo(CALLEE, "UPDATE")), 1)
        h.clock.advance(31.9)
        self.assertEqual(h.requestsTo(CALLER, "BYE"), [])
        h.clock.advance(0.2)
        self.assertEqual(len(h.requestsTo(CALLEE, "BYE")), 1)
        self.assertEqual(len(h.requestsTo(CALLER, "BYE")), 1)
        self.answerByes(h)
        self.assertFreed(h)

    def test_otherErrorRetried(self) -> None:
        """
        A refresh answered 500 is retried 10 s later; a 405 to an UPDATE switches to
        re-INVITE at once.
        """
        h = self.harness()
        h.establish(okHeaders=("Session-Expires: 90;refresher=uac", ALLOW_UPDATE))
        h.clock.advance(45)
        h.answerLast(CALLEE, 500)
        h.clock.advance(9.9)
        self.assertEqual(len(h.requestsTo(CALLEE, "UPDATE")), 1)
        h.clock.advance(0.1)
        self.assertEqual(len(h.requestsTo(CALLEE, "UPDATE")), 2)
        h.answerLast(CALLEE, 405)
        h.clock.advance(0)
        self.assertEqual(len(h.requestsTo(CALLEE, "INVITE")), 2)

    def test_422OnRefresh(self) -> None:
        """
        A 422 to a refresh is retried at once with its Min-SE and a raised interval.
        """
        h = self.harness()
        h.establish(okHeaders=("Session-Expires: 90;refresher=uac", ALLOW_UPDATE))
        h.clock.advance(45)
        h.answerLast(CALLEE, 422, "Min-SE: 300")
        h.clock.advance(0)
        retry = h.requestsTo(CALLEE, "UPDATE")[-1]
        self.assertEqual(retry.header("min-se"), "300")
        self.assertEqual(retry.header("session-expires"), "300;refresher=uac")


class ExpiryTests(_B2BUATestCase):
    """
    A leg whose refresher does not refresh is torn down on both legs.
    """

    def test_expiryByesBothLegs(self) -> None:
        """
        When the caller (the A-leg refresher, SE 90) never refreshes, sst sends BYE on both
        legs at 90 - min(32, 30) = 60 s with the Reason header, counts C{expired_sst}, and
        frees every state and timer.
        """
        h = self.harness()
        h.establish("Session-Expires: 90", okHeaders=("Session-Expires: 90;refresher=uas",))
        h.clock.advance(59.9)
        self.assertEqual(h.requestsTo(CALLER, "BYE"), [])
        h.clock.advance(0.1)
        [aBye] = h.requestsTo(CALLER, "BYE")
        [bBye] = h.requestsTo(CALLEE, "BYE")
        self.assertEqual(aBye.header("reason"), EXPIRY_REASON)
        self.assertEqual(bBye.header("reason"), EXPIRY_REASON)
        self.assertEqual(h.stats.get("expired_sst"), 1)
        self.assertEqual(h.stats.get("expiry_byes"), 2)
        self.assertEqual(len(h.dialogs), 0)
        self.answerByes(h)
        self.assertFreed(h)

    def test_expiryLargeInterval(self) -> None:
        """
        For SE 1800 the BYE comes at 1800 - 32 = 1768 s.
        """
        h = self.harness()
        h.establish("Session-Expires: 1800", okHeaders=("Session-Expires: 1800;refresher=uas",))
        h.clock.advance(1767.9)
        self.assertEqual(h.requestsTo(CALLER, "BYE"), [])
        h.clock.advance(0.1)
        self.assertEqual(len(h.requestsTo(CALLER, "BYE")), 1)

    def test_byesUnanswered(self) -> None:
        """
        Even when nobody answers the BYEs, every state and timer is gone once they time out.
        """
        h = self.harness()
        h.establish("Session-Expires: 90", okHeaders=("Session-Expires: 90;refresher=uas",))
        h.clock.advance(60)
        self.assertFreed(h)


class OptionsTests(SynchronousTestCase):
    """
    The B2BUA options of C{twistd sst}.
    """

    def parse(self, *args: str) -> Options:
        """
        @return: the options parsed from C{args}.
        """
        options = Options()
        options.parseOptions(list(args))
        return options

    def test_defaults(self) -> None:
        """
        The mode is proxy; the B-leg values follow the policy; refresher uac, method auto.
        """
        options = self.parse()
        self.assertEqual(options["mode"], "proxy")
        self.assertEqual(options["b2bua-settings"], B2BUASettings())

    def test_values(self) -> None:
        """
        The B2BUA options reach the settings.
        """
        options = self.parse("--mode", "b2bua", "--b-session-expires", "600", "--b-min-se", "300",
                             "--refresher", "local", "--refresh-method", "invite")
        self.assertEqual(options["b2bua-settings"],
                         B2BUASettings("local", "invite", 600, 300))

    def test_bad(self) -> None:
        """
        Bad values are usage errors.
        """
        for args in (["--mode", "sbc"], ["--refresher", "me"], ["--refresh-method", "prack"],
                     ["--b-min-se", "60"], ["--b-min-se", "200", "--b-session-expires", "100"],
                     ["--b-session-expires", "x"]):
            self.assertRaises(UsageError, self.parse, *args)

    def test_byeOnExpiryRefused(self) -> None:
        """
        C{--bye-on-expiry} is a proxy option: in B2BUA mode, which always sends BYE on both
        legs at expiry, it is a usage error saying so, rather than silently ignored.
        """
        e = self.assertRaises(UsageError, self.parse, "--mode", "b2bua", "--bye-on-expiry")
        self.assertIn("--bye-on-expiry", str(e))
        self.assertIn("b2bua", str(e))
        self.assertTrue(self.parse("--bye-on-expiry")["bye-on-expiry"])

    def test_serviceMode(self) -> None:
        """
        In b2bua mode the service has a B2BUA and no proxy core.
        """
        from twisted.internet.task import Clock

        from sst.tap import SIPService

        service = SIPService(self.parse("--mode", "b2bua"), Clock())
        self.assertIsNotNone(service.b2bua)
        self.assertRaises(AttributeError, lambda: service.proxy)
        self.assertIs(service.transactions.user, service.ua)


class RoutingAndRetryRegressionTests(_B2BUATestCase):
    """
    Regressions found while documenting the B2BUA.
    """

    def test_unregisteredUserNotLooped(self) -> None:
        """
        Without --next-hop, a call to an unregistered user of a domain sst serves gets 480;
        no B-leg INVITE is sent to sst's own address (it would loop until Max-Forwards runs
        out).
        """
        h = B2BUAHarness(["--min-se", "90"], nextHop=False)
        invite = h.invite().replace("INVITE sip:bob@%s SIP/2.0" % (CALLEE.hostport(),),
                                    "INVITE sip:nobody@%s SIP/2.0" % (PROXY.hostport(),))
        h.fromCaller(invite)
        self.assertEqual(h.lastResponseTo(CALLER).code, 480)
        self.assertEqual(h.to(PROXY), [])

    def test_forcedUpdate405Retried(self) -> None:
        """
        With --refresh-method update, a 405 to the refresh UPDATE is an ordinary failure:
        retried after the retry delay, not at once in a loop.
        """
        h = self.harness("--refresh-method", "update")
        h.establish(okHeaders=("Session-Expires: 90;refresher=uac", ALLOW_UPDATE))
        h.clock.advance(45)
        self.assertEqual(len(h.requestsTo(CALLEE, "UPDATE")), 1)
        h.answerLast(CALLEE, 405)
        h.clock.advance(9.9)
        self.assertEqual(len(h.requestsTo(CALLEE, "UPDATE")), 1)
        h.clock.advance(0.1)
        self.assertEqual(len(h.requestsTo(CALLEE, "UPDATE")), 2)

    def test_noOpenRelay(self) -> None:
        """
        Without --next-hop, a call to a domain sst does not serve, from a caller outside the
        --relay-networks, gets 403 and places no B-leg; from an allowed network it is routed.
        """
        h = B2BUAHarness(["--min-se", "90"], nextHop=False)
        invite = h.invite().replace("INVITE sip:bob@%s SIP/2.0" % (CALLEE.hostport(),),
                                    "INVITE sip:bob@192.0.2.7 SIP/2.0")
        h.fromCaller(invite)
        refusal = h.lastResponseTo(CALLER)
        self.assertEqual((refusal.code, refusal.phrase), (403, "Relaying denied"))
        self.assertEqual(h.stats.get("relay_denied"), 1)
        self.assertEqual([a for m, a in h.sent if isinstance(m, Request)], [])
        allowed = B2BUAHarness(["--min-se", "90", "--relay-network", "127.0.0.0/8"], nextHop=False)
        allowed.fromCaller(invite)
        self.assertEqual(allowed.stats.get("relay_denied"), 0)
        [(bLeg, address)] = [(m, a) for m, a in allowed.sent if isinstance(m, Request)]
        self.assertEqual((bLeg.method, address.host, address.port), ("INVITE", "192.0.2.7", 5060))
