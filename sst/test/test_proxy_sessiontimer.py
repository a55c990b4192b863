# -*- test-case-name: sst.test.test_proxy_sessiontimer -*-
"""
Session timers through the whole proxy stack, on a task.Clock (RFC 4028 sections 8.1-8.3).
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from sst.expiry import EXPIRY_REASON
from sst.message import Request, Response
from sst.address import Address
from sst.test.test_proxy import AOR, register
from sst.testing import CALLEE, CALLER, ProxyHarness


class ProxySessionTimerTests(SynchronousTestCase):
    """
    The dialog table follows the session interval negotiated through the proxy.
    """

    def settle(self, harness: ProxyHarness) -> None:
        """
        Let every transaction end (64*T1 and more), so only dialog timers remain.
        """
        harness.clock.advance(40)

    def test_expiryBoundary(self) -> None:
        """
        A dialog whose 2xx carries Session-Expires 90 expires 90 s after the 2xx passed:
        present at 89.9 s, gone at 90.1 s, counted as expired_sst, no BYE sent (section 8.3),
        and no timer left.
        """
        h = ProxyHarness(["--min-se", "90"])
        h.call("Session-Expires: 90")
        self.assertEqual(len(h.dialogs), 1)
        sentBefore = len(h.sent)
        h.clock.advance(89.9)
        self.assertEqual(len(h.dialogs), 1)
        h.clock.advance(0.2)
        self.assertEqual(len(h.dialogs), 0)
        self.assertEqual(h.stats.get("expired_sst"), 1)
        self.assertEqual([m for m, a in h.sent[sentBefore:] if isinstance(m, Request)], [])
        self.assertEqual(h.clock.getDelayedCalls(), [])

    def test_byeEndsDialog(self) -> None:
        """
        A BYE answered 200 removes the dialog; once transactions end no timer remains and
        nothing counts as expired.
        """
        h = ProxyHarness(["--min-se", "90"])
        h.call("Session-Expires: 1800")
        h.fromCaller(h.inDialog("BYE"))
        h.fromCallee(h.answer(h.lastRequestTo(CALLEE), 200))
        self.assertEqual(len(h.dialogs), 0)
        self.assertEqual(h.lastResponseTo(CALLER).code, 200)
        self.settle(h)
        self.assertEqual(h.clock.getDelayedCalls(), [])
        self.assertEqual(h.stats.get("expired_sst"), 0)

    def test_refreshByReinvite(self) -> None:
        """
        A re-INVITE whose 2xx carries Session-Expires re-arms the expiry from that 2xx.
        """
        h = ProxyHarness(["--min-se", "90"])
        h.call("Session-Expires: 90")
        h.clock.advance(60)
        h.fromCaller(h.inDialog("INVITE", "Session-Expires: 90;refresher=uac", "Supported: timer"))
        h.fromCallee(h.answer(h.lastRequestTo(CALLEE), 200, "Session-Expires: 90;refresher=uac",
                              "Require: timer"))
        h.clock.advance(89.9)
        self.assertEqual(len(h.dialogs), 1)
        h.clock.advance(0.2)
        self.assertEqual(len(h.dialogs), 0)
        self.assertEqual(h.stats.get("expired_sst"), 1)

    def test_refreshByUpdate(self) -> None:
        """
        An UPDATE refresh (compact C{x}, upper-case refresher) re-arms the expiry too.
        """
        h = ProxyHarness(["--min-se", "90"])
        h.call("Session-Expires: 120")
        h.clock.advance(100)
        h.fromCaller(h.inDialog("UPDATE", "x: 120 ; refresher = UAC", "Supported: timer"))
        h.fromCallee(h.answer(h.lastRequestTo(CALLEE), 200, "x: 120;refresher=uac"))
        h.clock.advance(119.9)
        self.assertEqual(len(h.dialogs), 1)
        dialog = next(iter(h.dialogs))
        self.assertEqual((dialog.interval, dialog.refresher), (120, "uac"))
        h.clock.advance(0.2)
        self.assertEqual(len(h.dialogs), 0)

    def test_failedRefreshDoesNotExtend(self) -> None:
        """
        A refresh answered 491 does not move the expiry (RFC 3261 section 14.1).
        """
        h = ProxyHarness(["--min-se", "90"])
        h.call("Session-Expires: 90")
        h.clock.advance(50)
        h.fromCaller(h.inDialog("INVITE", "Session-Expires: 90", "Supported: timer"))
        h.fromCallee(h.answer(h.lastRequestTo(CALLEE), 491))
        self.assertEqual(h.lastResponseTo(CALLER).code, 491)
        h.clock.advance(40.1)
        self.assertEqual(len(h.dialogs), 0)
        self.assertEqual(h.stats.get("expired_sst"), 1)

    def test_reinviteWithoutSessionExpiresTurnsTimerOff(self) -> None:
        """
        A re-INVITE 2xx without Session-Expires turns the timer off: the dialog falls back to
        the default lifetime and its expiry would not count as expired_sst.
        """
        h = ProxyHarness(["--min-se", "90", "--dialog-timeout", "600"])
        h.call("Session-Expires: 90")
        h.fromCaller(h.inDialog("INVITE", "Allow: INVITE"))
        h.fromCallee(h.answer(h.lastRequestTo(CALLEE), 200))
        dialog = next(iter(h.dialogs))
        self.assertFalse(dialog.timed)
        h.clock.advance(599.9)
        self.assertEqual(len(h.dialogs), 1)
        h.clock.advance(0.2)
        self.assertEqual(len(h.dialogs), 0)
        self.assertEqual(h.stats.get("expired_sst"), 0)

    def test_example11(self) -> None:
        """
        The seed's Example 1-1: SE 50 with Supported: timer gets 422 Session Interval Too
        Small with Min-SE 1800; the ACK is absorbed; the retry with SE 1800 is forwarded.
        """
        h = ProxyHarness()
        h.fromCaller(h.invite("Session-Expires: 50"))
        reject = h.lastResponseTo(CALLER)
        self.assertEqual((reject.code, reject.phrase), (422, "Session Interval Too Small"))
        self.assertEqual(reject.header("min-se"), "1800")
        self.assertEqual(h.to(CALLEE), [])
        ack = h.invite("Session-Expires: 50").replace("INVITE sip", "ACK sip", 1)
        ack = ack.replace("CSeq: 1 INVITE", "CSeq: 1 ACK").replace(
            "To: <sip:bob@127.0.0.1:5070>", "To: " + (reject.header("to") or ""))
        h.fromCaller(ack)
        self.assertEqual(h.to(CALLEE), [])
        self.assertEqual(h.stats.get("rejected_422"), 1)
        h.fromCaller(h.invite("Session-Expires: 1800", "Min-SE: 1800", branch="z9hG4bK-retry",
                              cseq=2, fromTag="caller2"))
        forwarded = h.lastRequestTo(CALLEE)
        self.assertEqual(forwarded.header("session-expires"), "1800")
        self.assertEqual(forwarded.header("min-se"), "1800")

    def test_nonTimerCallerRaised(self) -> None:
        """
        Without Supported: timer a small Session-Expires is not rejected: Min-SE and
        Session-Expires are raised to min_se (section 8.1).
        """
        h = ProxyHarness()
        h.fromCaller(h.invite("Session-Expires: 100", supported=None))
        forwarded = h.lastRequestTo(CALLEE)
        self.assertEqual(forwarded.header("session-expires"), "1800")
        self.assertEqual(forwarded.header("min-se"), "1800")

    def test_insertionInRequestAnd2xx(self) -> None:
        """
        A timed INVITE without Session-Expires gets one (no refresher); its 2xx without one
        gets Session-Expires with refresher=uac and Require: timer, and the dialog uses it.
        """
        h = ProxyHarness(["--session-expires", "3600"])
        ok = h.call()
        forwarded = h.to(CALLEE)[0]
        assert isinstance(forwarded, Request)
        self.assertEqual(forwarded.header("session-expires"), "3600")
        self.assertEqual(ok.header("session-expires"), "3600;refresher=uac")
        self.assertTrue(ok.hasOptionTag("require", "timer"))
        dialog = next(iter(h.dialogs))
        self.assertEqual((dialog.interval, dialog.refresher), (3600, "uac"))

    def test_untimedCallerKeepsDefaultLifetime(self) -> None:
        """
        When the UAC does not support timers and the UAS adds no Session-Expires, nothing is
        added to the 2xx and the dialog keeps the default lifetime.
        """
        h = ProxyHarness(["--dialog-timeout", "1000"])
        ok = h.call(supported=None)
        self.assertIsNone(ok.header("session-expires"))
        self.assertFalse(ok.hasHeader("require"))
        dialog = next(iter(h.dialogs))
        self.assertFalse(dialog.timed)
        h.clock.advance(999.9)
        self.assertEqual(len(h.dialogs), 1)

    def test_forkedDialogsHaveOwnTimers(self) -> None:
        """
        Two 2xx with different To tags (a forking proxy downstream) make two dialogs, each
        with the interval of its own 2xx; both 2xx are forwarded.
        """
        h = ProxyHarness(["--min-se", "90"])
        h.fromCaller(h.invite("Session-Expires: 300"))
        forwarded = h.lastRequestTo(CALLEE)
        h.fromCallee(h.answer(forwarded, 200, "Session-Expires: 100;refresher=uac", toTag="fork1"))
        h.fromCallee(h.answer(forwarded, 200, "Session-Expires: 200;refresher=uas", toTag="fork2"))
        oks = [m for m in h.to(CALLER) if isinstance(m, Response) and m.code == 200]
        self.assertEqual([m.toTag for m in oks], ["fork1", "fork2"])
        h.fromCaller(h.inDialog("ACK", cseq=1, toTag="fork1"))
        h.fromCaller(h.inDialog("ACK", cseq=1, toTag="fork2"))
        self.assertEqual(sorted(d.interval for d in h.dialogs), [100, 200])
        h.clock.advance(100.1)
        self.assertEqual([d.id.toTag for d in h.dialogs], ["fork2"])
        h.clock.advance(100)
        self.assertEqual(len(h.dialogs), 0)
        self.assertEqual(h.stats.get("expired_sst"), 2)

    def test_byeOnExpiry(self) -> None:
        """
        With --bye-on-expiry, expiry sends a BYE to each party with the expiry Reason, with
        CSeq above what each side used.
        """
        h = ProxyHarness(["--min-se", "90", "--bye-on-expiry"])
        h.call("Session-Expires: 90")
        h.fromCaller(h.inDialog("INFO", cseq=5))
        h.fromCallee(h.answer(h.lastRequestTo(CALLEE), 200))
        h.clock.advance(90.1)
        toCallee = h.lastRequestTo(CALLEE)
        toCaller = h.lastRequestTo(CALLER)
        self.assertEqual((toCallee.method, toCaller.method), ("BYE", "BYE"))
        self.assertEqual(toCallee.header("reason"), EXPIRY_REASON)
        self.assertEqual(toCaller.header("reason"), EXPIRY_REASON)
        self.assertEqual(toCallee.cseq().number, 6)
        self.assertEqual((toCallee.fromTag, toCallee.toTag), ("caller1", "callee1"))
        self.assertEqual((toCaller.fromTag, toCaller.toTag), ("callee1", "caller1"))
        self.assertEqual(toCaller.uri, "sip:alice@127.0.0.1:5061")
        self.assertEqual(h.stats.get("expired_sst"), 1)

    def test_badSessionExpires400(self) -> None:
        """
        A malformed Session-Expires in a timed INVITE gets 400 and nothing is forwarded.
        """
        h = ProxyHarness()
        h.fromCaller(h.invite("Session-Expires: soon"))
        self.assertEqual(h.lastResponseTo(CALLER).code, 400)
        self.assertEqual(h.to(CALLEE), [])

    def test_zeroSessionExpiresWithTimer422(self) -> None:
        """
        C{Session-Expires: 0} with C{Supported: timer} is an interval below any minimum: a
        422 with our Min-SE, so the caller can retry (RFC 4028 section 8.1), not a 400.
        """
        h = ProxyHarness(["--min-se", "600"])
        h.fromCaller(h.invite("Session-Expires: 0"))
        rejected = h.lastResponseTo(CALLER)
        self.assertEqual((rejected.code, rejected.header("min-se")), (422, "600"))
        self.assertEqual(h.to(CALLEE), [])

    def test_zeroSessionExpiresWithoutTimerRaised(self) -> None:
        """
        C{Session-Expires: 0} from a caller without timer support cannot usefully be
        rejected: Min-SE is inserted and Session-Expires raised to it, and the call goes on.
        """
        h = ProxyHarness(["--min-se", "600"])
        h.fromCaller(h.invite("Session-Expires: 0;refresher=uac", supported=None))
        forwarded = h.lastRequestTo(CALLEE)
        self.assertEqual(forwarded.header("session-expires"), "600;refresher=uac")
        self.assertEqual(forwarded.header("min-se"), "600")

    def test_refreshWithoutTimerRaised(self) -> None:
        """
        An in-dialog refresh from a UAC without C{Supported: timer} whose Session-Expires
        is below our minimum is raised, with Min-SE inserted, exactly as an initial INVITE
        (RFC 4028 section 8.1 applies to every session refresh request).
        """
        h = ProxyHarness(["--min-se", "600"])
        h.call("Session-Expires: 1800")
        for method in ("UPDATE", "INVITE"):
            h.fromCaller(h.inDialog(method, "Session-Expires: 100;refresher=uac",
                                    cseq=3 if method == "INVITE" else 2))
            forwarded = h.lastRequestTo(CALLEE)
            self.assertEqual(forwarded.method, method)
            self.assertEqual(forwarded.header("session-expires"), "600;refresher=uac")
            self.assertEqual(forwarded.header("min-se"), "600")

    def test_refreshWithZeroRaisedOr422(self) -> None:
        """
        In a timed dialog, a refresh with C{Session-Expires: 0} is raised when its sender
        lacks timer support, and answered 422 with Min-SE when it has it.
        """
        h = ProxyHarness(["--min-se", "600"])
        h.call("Session-Expires: 1800")
        h.fromCaller(h.inDialog("UPDATE", "Session-Expires: 0"))
        self.assertEqual(h.lastRequestTo(CALLEE).header("session-expires"), "600")
        h.fromCaller(h.inDialog("UPDATE", "Session-Expires: 0", "Supported: timer", cseq=3))
        rejected = h.lastResponseTo(CALLER)
        self.assertEqual((rejected.code, rejected.header("min-se")), (422, "600"))

    def test_noRejectTooSmallForwardsUnchanged(self) -> None:
        """
        With --no-reject-too-small (the seed's reject_to_small=0), a too-small
        Session-Expires from a UAC with timer support is forwarded without any
        modification, even below 90: the proxy must not increase it (RFC 4028 section
        8.1) and the callee's own minimum answers.
        """
        h = ProxyHarness(["--min-se", "1800", "--no-reject-too-small"])
        h.fromCaller(h.invite("Session-Expires: 60;refresher=uac", "Min-SE: 60"))
        forwarded = h.lastRequestTo(CALLEE)
        self.assertEqual(forwarded.header("session-expires"), "60;refresher=uac")
        self.assertEqual(forwarded.header("min-se"), "60")
        self.assertEqual([m.code for m in h.to(CALLER) if isinstance(m, Response)], [100])

    def test_maxSECapsRequestsAndDialogs(self) -> None:
        """
        With --max-se, a larger Session-Expires is lowered to it (never below the request's
        Min-SE; its refresher kept), an inserted one never exceeds it, and a 2xx that
        answers more (a UAS must not) keeps the dialog no longer than the cap.
        """
        h = ProxyHarness(["--min-se", "90", "--session-expires", "1800", "--max-se", "3600"])
        h.fromCaller(h.invite("Session-Expires: 86400;refresher=uac"))
        forwarded = h.lastRequestTo(CALLEE)
        self.assertEqual(forwarded.header("session-expires"), "3600;refresher=uac")
        h.fromCallee(h.answer(forwarded, 200, "Session-Expires: 86400;refresher=uac"))
        [dialog] = h.dialogs
        self.assertEqual(dialog.interval, 3600)
        h.clock.advance(3600.1)
        self.assertEqual(len(h.dialogs), 0)
        h.fromCaller(h.invite("Session-Expires: 86400", "Min-SE: 5000", callId="call-2",
                              branch="z9hG4bK-inv-2"))
        self.assertEqual(h.lastRequestTo(CALLEE).header("session-expires"), "5000")
        h.fromCaller(h.invite("Session-Expires: 1000", callId="call-3", branch="z9hG4bK-inv-3"))
        self.assertEqual(h.lastRequestTo(CALLEE).header("session-expires"), "1000")
        h.fromCaller(h.invite(callId="call-4", branch="z9hG4bK-inv-4"))
        self.assertEqual(h.lastRequestTo(CALLEE).header("session-expires"), "1800")
        capped = ProxyHarness(["--min-se", "90", "--session-expires", "90", "--max-se", "100"])
        capped.fromCaller(capped.invite(callId="call-5", branch="z9hG4bK-inv-5"))
        self.assertEqual(capped.lastRequestTo(CALLEE).header("session-expires"), "90")

    def test_forkedAnswersBeforeAck(self) -> None:
        """
        Two forks answer 200 (Session-Expires 300 and 600) before the caller ACKs either:
        each dialog keeps its own interval and lifetime; the second 2xx does not shorten
        the first dialog as if it were a losing early dialog.
        """
        h = ProxyHarness(["--min-se", "90"])
        h.fromCaller(h.invite("Session-Expires: 1800"))
        forwarded = h.lastRequestTo(CALLEE)
        h.fromCallee(h.answer(forwarded, 180, toTag="fork1"))
        h.fromCallee(h.answer(forwarded, 180, toTag="fork2"))
        h.fromCallee(h.answer(forwarded, 200, "Session-Expires: 300;refresher=uac", toTag="fork1"))
        h.fromCallee(h.answer(forwarded, 200, "Session-Expires: 600;refresher=uas", toTag="fork2"))
        h.fromCaller(h.inDialog("ACK", cseq=1, toTag="fork1"))
        h.fromCaller(h.inDialog("ACK", cseq=1, toTag="fork2"))
        self.assertEqual(sorted((d.id.toTag, d.interval) for d in h.dialogs),
                         [("fork1", 300), ("fork2", 600)])
        h.clock.advance(299.9)
        self.assertEqual(sorted(d.id.toTag for d in h.dialogs), ["fork1", "fork2"])
        h.clock.advance(0.2)
        self.assertEqual([d.id.toTag for d in h.dialogs], ["fork2"])
        h.clock.advance(300)
        self.assertEqual(len(h.dialogs), 0)
        self.assertEqual(h.stats.get("expired_sst"), 2)

    def test_parallelForksAnswerBeforeAck(self) -> None:
        """
        Two registered contacts ring in parallel and both answer 200 (Session-Expires 300
        and 600) before the caller ACKs either, as happens on the network: each dialog keeps
        its own interval, and the second 2xx does not shorten the first (answered) dialog
        as if it were a losing early dialog.
        """
        other = Address("udp", "127.0.0.1", 5072)
        h = ProxyHarness(["--min-se", "90"], nextHop=False)
        h.fromCallee(register("<sip:bob@127.0.0.1:5070>", "<sip:bob@127.0.0.1:5072>"))
        h.fromCaller(h.invite("Session-Expires: 1800").replace(
            "INVITE sip:bob@127.0.0.1:5070", "INVITE " + AOR, 1))
        first, second = h.lastRequestTo(CALLEE), h.lastRequestTo(other)
        h.fromCallee(h.answer(first, 180, toTag="fork1"))
        h.receive(h.answer(second, 180, toTag="fork2", contact=other), other)
        h.fromCallee(h.answer(first, 200, "Session-Expires: 300;refresher=uac", toTag="fork1"))
        h.receive(h.answer(second, 200, "Session-Expires: 600;refresher=uas", toTag="fork2",
                           contact=other), other)
        self.assertEqual([m.toTag for m in h.to(CALLER)
                          if isinstance(m, Response) and m.code == 200], ["fork1", "fork2"])
        h.fromCaller(h.inDialog("ACK", cseq=1, toTag="fork1"))
        h.fromCaller(h.inDialog("ACK", cseq=1, toTag="fork2"))
        self.assertEqual(sorted((d.id.toTag, d.interval) for d in h.dialogs),
                         [("fork1", 300), ("fork2", 600)])
        h.clock.advance(299.9)
        self.assertEqual(sorted(d.id.toTag for d in h.dialogs), ["fork1", "fork2"])
        h.clock.advance(0.2)
        self.assertEqual([d.id.toTag for d in h.dialogs], ["fork2"])
        h.clock.advance(300)
        self.assertEqual(len(h.dialogs), 0)
        self.assertEqual(h.stats.get("expired_sst"), 2)

    def test_2xxRetransmissionDoesNotRearm(self) -> None:
        """
        The expiry counts from the first 2xx: a retransmission of it 20 s later (the caller's
        ACK lost) does not push the expiry back.
        """
        h = ProxyHarness(["--min-se", "90"])
        h.fromCaller(h.invite("Session-Expires: 90"))
        ok = h.answer(h.lastRequestTo(CALLEE), 200, "Session-Expires: 90;refresher=uac")
        h.fromCallee(ok)
        [dialog] = h.dialogs
        expiresAt = dialog.expiresAt
        h.clock.advance(20)
        h.fromCallee(ok)
        self.assertEqual(len([m for m in h.to(CALLER) if isinstance(m, Response)
                              and m.code == 200]), 2)
        self.assertEqual(dialog.expiresAt, expiresAt)
        h.fromCaller(h.inDialog("ACK", cseq=1))
        h.clock.advance(70.1)
        self.assertEqual(len(h.dialogs), 0)
        self.assertEqual(h.stats.get("expired_sst"), 1)

    def test_refresherIsTheParty(self) -> None:
        """
        The dialog's refresher names the party that refreshes (the caller, C{uac} of the
        initial INVITE, or the callee, C{uas}), not the role in the last refresh: a
        callee-sent UPDATE answered with C{refresher=uac} makes the callee the refresher.
        """
        h = ProxyHarness(["--min-se", "90"])
        h.call("Session-Expires: 1800", okHeaders=("Session-Expires: 1800;refresher=uac",
                                                   "Require: timer"))
        [dialog] = h.dialogs
        self.assertEqual(dialog.refresher, "uac")
        self.assertEqual(dialog.asDict()["refresher_party"], "caller")
        h.fromCallee(h.inDialog("UPDATE", "Session-Expires: 1800;refresher=uac",
                                "Supported: timer", fromCallee=True, cseq=7))
        update = h.lastRequestTo(CALLER)
        h.receive(h.answer(update, 200, "Session-Expires: 1800;refresher=uac",
                           "Require: timer"), CALLER)
        self.assertEqual(h.lastResponseTo(CALLEE).code, 200)
        self.assertEqual((dialog.refresher, dialog.asDict()["refresher_party"]),
                         ("uas", "callee"))
        h.fromCaller(h.inDialog("UPDATE", "Session-Expires: 1800;refresher=uas",
                                "Supported: timer", cseq=3))
        h.fromCallee(h.answer(h.lastRequestTo(CALLEE), 200,
                              "Session-Expires: 1800;refresher=uas", "Require: timer"))
        self.assertEqual((dialog.refresher, dialog.asDict()["refresher_party"]),
                         ("uas", "callee"))

    def test_refresh422OnlyInTimedDialogs(self) -> None:
        """
        A refresh with Supported: timer and a Session-Expires below min_se gets 422 in a timed
        dialog, and is forwarded in a dialog the policy did not time.
        """
        h = ProxyHarness(["--min-se", "1800"])
        h.call("Session-Expires: 1800")
        h.fromCaller(h.inDialog("UPDATE", "Session-Expires: 100", "Supported: timer"))
        self.assertEqual(h.lastResponseTo(CALLER).code, 422)
        untimed = ProxyHarness(["--min-se", "1800", "--policy", "networks",
                                "--policy-option", "networks=10.0.0.0/8"])
        untimed.call("Session-Expires: 1800")
        self.assertFalse(next(iter(untimed.dialogs)).timed)
        untimed.fromCaller(untimed.inDialog("UPDATE", "Session-Expires: 100", "Supported: timer"))
        self.assertEqual(untimed.lastRequestTo(CALLEE).method, "UPDATE")

    def test_maxDialogs503(self) -> None:
        """
        With --max-dialogs reached, a new INVITE gets 503 with Retry-After, while requests in
        existing dialogs still pass.
        """
        h = ProxyHarness(["--max-dialogs", "1"])
        h.call("Session-Expires: 1800")
        h.fromCaller(h.invite(callId="call-2", branch="z9hG4bK-second"))
        busy = h.lastResponseTo(CALLER)
        self.assertEqual(busy.code, 503)
        self.assertIsNotNone(busy.header("retry-after"))
        self.assertEqual(h.stats.get("overload_rejected"), 1)
        h.fromCaller(h.inDialog("BYE"))
        self.assertEqual(h.lastRequestTo(CALLEE).method, "BYE")

    def test_losingForkEarlyDialogDropped(self) -> None:
        """
        The early dialog of a fork that rang but lost to another fork's 2xx is dropped 64*T1
        after the 2xx, not kept for the default lifetime.
        """
        h = ProxyHarness(["--min-se", "90"])
        h.fromCaller(h.invite("Session-Expires: 300"))
        forwarded = h.lastRequestTo(CALLEE)
        h.fromCallee(h.answer(forwarded, 180, toTag="ringing"))
        h.fromCallee(h.answer(forwarded, 200, toTag="winner"))
        h.fromCaller(h.inDialog("ACK", cseq=1, toTag="winner"))
        self.assertEqual(len(h.dialogs), 2)
        h.clock.advance(32.1)
        self.assertEqual([d.id.toTag for d in h.dialogs], ["winner"])

    def test_byeOnExpiryCSeqExhausted(self) -> None:
        """
        When the caller used CSeq 2**31-1, no BYE with an out-of-range CSeq is sent to the
        callee; the caller still gets its BYE.
        """
        h = ProxyHarness(["--min-se", "90", "--bye-on-expiry"])
        h.call("Session-Expires: 90")
        h.fromCaller(h.inDialog("INFO", cseq=2**31 - 1))
        h.fromCallee(h.answer(h.lastRequestTo(CALLEE), 200))
        h.clock.advance(90.1)
        self.assertEqual(h.lastRequestTo(CALLEE).method, "INFO")
        self.assertEqual(h.lastRequestTo(CALLER).method, "BYE")

    def test_maxDialogsCountsInvitesInProgress(self) -> None:
        """
        An INVITE admitted but not yet answered counts against --max-dialogs, so a second
        INVITE arriving meanwhile gets 503; once the first is answered with a failure, a new
        INVITE passes again and the count is back to zero.
        """
        h = ProxyHarness(["--max-dialogs", "1"])
        h.fromCaller(h.invite())
        self.assertEqual(h.service.proxy.invitesInProgress, 1)
        h.fromCaller(h.invite(callId="call-2", branch="z9hG4bK-second"))
        self.assertEqual(h.lastResponseTo(CALLER).code, 503)
        h.fromCallee(h.answer(h.to(CALLEE)[0], 486))
        self.assertEqual(h.service.proxy.invitesInProgress, 0)
        h.fromCaller(h.invite(callId="call-3", branch="z9hG4bK-third"))
        self.assertEqual(h.lastRequestTo(CALLEE).callId, "call-3")
