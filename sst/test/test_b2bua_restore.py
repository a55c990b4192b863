# -*- test-case-name: sst.test.test_b2bua_restore -*-
"""
Tests for L{sst.b2bua.snapshot} and L{sst.b2bua.persistence}: B2BUA calls saved in the
C{--state} store and restored by a new stack on the same file, on a clock.

A "restart" here closes the first stack's store (which writes it, as the periodic flush
would) and abandons that stack, as C{kill -9} would after a flush; a new stack on a clock set
to the same time (or later) opens the same file.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Optional

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from sst.b2bua.persistence import CSEQ_MARGIN
from sst.b2bua.snapshot import SNAPSHOT, CallSnapshot, LegSnapshot
from sst.expiry import EXPIRY_REASON
from sst.message import Request, Response
from sst.store import DialogStore, decodeExtra, encodeExtra
from sst.tap import Options, SIPService
from sst.test import _hypothesis  # noqa: F401  (loads the Hypothesis profile)
from sst.test.b2bua_harness import ANSWER, CALLEE, CALLER, OFFER, B2BUAHarness
from sst.values import DialogId

NEW_OFFER = "v=0\r\no=caller 1 2 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\n"
NEW_ANSWER = "v=0\r\no=callee 7 8 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 5000 RTP/AVP 0\r\n"
ALLOW_UPDATE = "Allow: INVITE, ACK, BYE, CANCEL, UPDATE"

#: The options of every stack of these tests.
ARGS = ["--min-se", "90", "--session-expires", "1800"]

#: A call whose caller refreshes the A-leg (SE 90: its entry expires at 60 s) and where sst
#: refreshes the B-leg (SE 90: at 45 s, by UPDATE).
CALLER_HEADERS = ("Session-Expires: 90",)
CALLEE_HEADERS = ("Session-Expires: 90;refresher=uac", ALLOW_UPDATE)


def _texts() -> st.SearchStrategy[str]:
    return st.text(max_size=20)


def _legs() -> st.SearchStrategy[LegSnapshot]:
    return st.builds(
        LegSnapshot, callId=_texts(), localTag=_texts(), remoteTag=_texts(),
        localParty=_texts(), remoteParty=_texts(),
        routeSet=st.lists(_texts(), max_size=3).map(tuple), remoteTarget=_texts(),
        localCSeq=st.integers(0, 2 ** 31), remoteCSeq=st.none() | st.integers(0, 2 ** 31),
        isUAC=st.booleans(), contact=_texts(),
        peerAllow=st.none() | st.frozensets(_texts(), max_size=4),
        peerSupported=st.frozensets(_texts(), max_size=3),
        interval=st.none() | st.integers(90, 86400), weRefresh=st.booleans(),
        minSE=st.integers(90, 86400), localMin=st.integers(90, 86400),
        localBody=st.binary(max_size=40), localType=st.none() | _texts(),
        remoteBody=st.binary(max_size=40),
        nextRefresh=st.none() | st.floats(0, 1e10, allow_nan=False), noUpdate=st.booleans())


class SnapshotTests(SynchronousTestCase):
    """
    L{CallSnapshot} is saved as JSON and read back unchanged.
    """

    @given(_texts(), _legs(), _legs())
    def test_roundTrip(self, key: str, a: LegSnapshot, b: LegSnapshot) -> None:
        """
        A snapshot described by C{toJSON}, written as JSON text and read with C{fromJSON}
        equals the original, bodies byte for byte; so does one kept in an entry's C{extra}
        through L{encodeExtra} and L{decodeExtra}, beside the scalars.
        """
        snapshot = CallSnapshot(key, a, b)
        text = json.dumps(snapshot.toJSON())
        self.assertEqual(CallSnapshot.fromJSON(json.loads(text)), snapshot)
        extra = {"call": "c", "leg": "a", SNAPSHOT: snapshot}
        self.assertEqual(decodeExtra(encodeExtra(extra)), extra)

    @given(_legs())
    def test_tableId(self, leg: LegSnapshot) -> None:
        """
        A leg's table identifier puts the caller's tag first: sst's on the B-leg (it is the
        UAC), the peer's on the A-leg.
        """
        first, second = ((leg.localTag, leg.remoteTag) if leg.isUAC
                         else (leg.remoteTag, leg.localTag))
        self.assertEqual(leg.tableId, DialogId(leg.callId, first, second))

    def test_bad(self) -> None:
        """
        A snapshot with a member missing or of the wrong type is refused with L{ValueError},
        which makes the store drop the row.
        """
        good = CallSnapshot("k", _leg("a"), _leg("b")).toJSON()
        self.assertEqual(CallSnapshot.fromJSON(good).key, "k")
        for bad in ["x", {"key": "k"}, dict(good, key=1),
                    dict(good, a=dict(_leg("a").toJSON(), local_cseq="1")),
                    dict(good, a=dict(_leg("a").toJSON(), local_cseq=True)),
                    dict(good, a=dict(_leg("a").toJSON(), route_set=[1])),
                    dict(good, a=dict(_leg("a").toJSON(), next_refresh="soon"))]:
            self.assertRaises(ValueError, CallSnapshot.fromJSON, bad)


def _leg(tag: str) -> LegSnapshot:
    return LegSnapshot(
        "c", tag, "r", "<sip:a@h>;tag=" + tag, "<sip:b@h>;tag=r", (), "sip:b@h", 1, None,
        True, "<sip:sst@h>", None, frozenset(), None, False, 90, 90, b"", None, b"", None,
        False)


class _RestoreTestCase(SynchronousTestCase):
    """
    A first stack whose table is kept in a store, and the stacks that restart from it.
    """

    def setUp(self) -> None:
        self.path = self.mktemp() + ".sqlite"
        self.store: Optional[DialogStore] = None

    def first(self) -> B2BUAHarness:
        """
        @return: a B2BUA stack keeping its table in the store.
        """
        h = B2BUAHarness(ARGS)
        self.store = h.openStore(self.path)
        return h

    def restart(self, h: B2BUAHarness, after: float = 0.0) -> B2BUAHarness:
        """
        Write the store of C{h} and abandon C{h}; start a new stack C{after} seconds later
        on the same file.

        @return: the new stack.
        """
        assert self.store is not None
        self.store.close()
        restarted = B2BUAHarness(ARGS)
        restarted.clock.advance(h.clock.seconds() + after)
        self.store = store = restarted.openStore(self.path)
        self.addCleanup(store.close)
        return restarted

    def call(self, h: B2BUAHarness, okHeaders: tuple[str, ...] = CALLEE_HEADERS
             ) -> tuple[Response, Request]:
        """
        Set a call up through C{h}.

        @return: sst's 200 to the caller and sst's INVITE to the callee.
        """
        return h.establish(*CALLER_HEADERS, okHeaders=okHeaders)

    def rows(self) -> list[str]:
        """
        @return: the Call-IDs of the rows in the file, read with a connection of its own.
        """
        connection = sqlite3.connect(self.path)
        try:
            return sorted(r[0] for r in connection.execute("SELECT call_id FROM dialogs"))
        finally:
            connection.close()

    def assertFreed(self, h: B2BUAHarness) -> None:
        """
        Once every transaction has ended, nothing is left of the call, and the file is empty
        after a flush.
        """
        h.settle()
        self.assertEqual(h.b2bua.calls, {})
        self.assertEqual(h.b2bua.legs, {})
        self.assertEqual(h.ua.dialogs, {})
        self.assertEqual(len(h.dialogs), 0)
        self.assertEqual(h.clock.getDelayedCalls(), [])
        assert self.store is not None
        self.store.flush()
        self.assertEqual(self.rows(), [])

    def assertBye(self, bye: Request, callId: str, fromTag: Optional[str], toTag: Optional[str],
                  cseq: int, uri: str) -> None:
        """
        C{bye} is a BYE in the dialog C{callId}, C{fromTag}, C{toTag}, with CSeq C{cseq},
        sent to C{uri}.
        """
        self.assertEqual((bye.method, bye.callId, bye.fromTag, bye.toTag, bye.cseq().number,
                          bye.uri), ("BYE", callId, fromTag, toTag, cseq, uri))


class RestoreTests(_RestoreTestCase):
    """
    A call saved by one stack is rebuilt by the next, from its legs' table entries.
    """

    def test_rebuilt(self) -> None:
        """
        Both legs' entries come back, with the scalars C{/dialogs} shows, and make one call
        whose two legs have their UA dialogs (tags, parties, remote target, CSeq
        L{CSEQ_MARGIN} above the saved one) and session timers; nothing is sent.
        """
        h = self.first()
        ok, invite = self.call(h)
        second = self.restart(h, 10)
        [call] = second.b2bua.calls.values()
        self.assertEqual(call.callId, "call-1")
        self.assertEqual(call.bCallId, invite.callId)
        self.assertIsNone(call.incoming)
        self.assertEqual(set(second.b2bua.legs.values()), {call.a, call.b})
        aId, bId = call.a.tableId, call.b.tableId
        self.assertEqual(aId, DialogId("call-1", "caller1", ok.toTag or ""))
        self.assertEqual(bId, DialogId(invite.callId, invite.fromTag or "", "callee1"))
        extras = {d.extra["leg"]: d.extra for d in second.dialogs}
        self.assertEqual({k: v for k, v in extras["b"].items() if k != SNAPSHOT}, {
            "call": "call-1", "leg": "b", "role": "uac", "sst_refreshes": True,
            "next_refresh": 45.0})
        self.assertEqual(extras["a"]["role"], "uas")
        a, b = call.a.dialog, call.b.dialog
        assert a is not None and b is not None
        self.assertEqual(set(second.ua.dialogs.values()), {a, b})
        self.assertEqual((a.localTag, a.remoteTag, a.remoteTarget, a.localCSeq, a.remoteCSeq),
                         (ok.toTag, "caller1", "sip:alice@127.0.0.1:5061", CSEQ_MARGIN, 1))
        self.assertEqual((b.localTag, b.remoteTag, b.remoteTarget, b.localCSeq),
                         (invite.fromTag, "callee1", "sip:peer@127.0.0.1:5070",
                          1 + CSEQ_MARGIN))
        self.assertTrue(b.peerAllows("UPDATE"))
        self.assertIs(a.user, call.a)
        self.assertEqual((call.a.interval, call.a.weRefresh, call.b.interval, call.b.weRefresh),
                         (90, False, 90, True))
        self.assertEqual(call.a.localBody, ANSWER.encode())
        self.assertEqual(call.b.localBody, OFFER.encode())
        self.assertEqual(second.sent, [])

    def test_serviceRestores(self) -> None:
        """
        C{twistd sst --mode b2bua --state FILE} restores the calls of the file when it
        starts, and keeps them there when it stops.
        """
        h = self.first()
        self.call(h)
        assert self.store is not None
        self.store.close()
        options = Options()
        options.parseOptions(["--mode", "b2bua", "--listen", "tcp:127.0.0.1:5060",
                              "--http", "none", "--no-gc-tuning", "--state", self.path])
        reactor = MemoryReactorClock()
        reactor.advance(h.clock.seconds() + 5)
        service = SIPService(options, reactor)
        service.startService()
        assert service.b2bua is not None
        self.assertEqual(len(service.b2bua.calls), 1)
        self.assertEqual(len(service.b2bua.legs), 2)
        service.stopService()
        self.assertEqual(len(self.rows()), 2)


class AfterRestartTests(_RestoreTestCase):
    """
    What the peers send in a restored call, and what sst sends in it.
    """

    def test_reinviteRelayed(self) -> None:
        """
        The caller's re-INVITE with a new offer is relayed to the callee in the B-leg's
        dialog (its tags, the callee's Contact, a CSeq above the saved one) and the callee's
        answer returned to the caller.
        """
        h = self.first()
        ok, invite = self.call(h)
        second = self.restart(h, 10)
        second.fromCaller(second.callerRequest("INVITE", ok, "Supported: timer",
                                               "Session-Expires: 90;refresher=uac", cseq=2,
                                               body=NEW_OFFER))
        [relayed] = second.requestsTo(CALLEE, "INVITE")
        self.assertEqual((relayed.callId, relayed.fromTag, relayed.toTag, relayed.uri,
                          relayed.cseq().number, relayed.body),
                         (invite.callId, invite.fromTag, "callee1", "sip:peer@127.0.0.1:5070",
                          2 + CSEQ_MARGIN, NEW_OFFER.encode()))
        second.answerLast(CALLEE, 200, "Session-Expires: 90;refresher=uac", body=NEW_ANSWER)
        self.assertEqual(second.requestsTo(CALLEE, "ACK")[-1].cseq().number, 2 + CSEQ_MARGIN)
        answer = second.lastResponseTo(CALLER)
        self.assertEqual((answer.code, answer.body, answer.header("session-expires")),
                         (200, NEW_ANSWER.encode(), "90;refresher=uac"))

    def test_updateRefreshAnswered(self) -> None:
        """
        The caller's UPDATE refresh is answered by sst with Session-Expires, not relayed, and
        re-arms the A-leg's expiry from now.
        """
        h = self.first()
        ok, _ = self.call(h)
        second = self.restart(h, 30)
        second.fromCaller(second.callerRequest("UPDATE", ok, "Supported: timer",
                                               "Session-Expires: 90;refresher=uac", cseq=2))
        answer = second.lastResponseTo(CALLER)
        self.assertEqual((answer.code, answer.header("session-expires")),
                         (200, "90;refresher=uac"))
        self.assertEqual(second.requestsTo(CALLEE, "UPDATE"), [])
        call = next(iter(second.b2bua.calls.values()))
        assert call.a.tableId is not None
        entry = second.dialogs.get(call.a.tableId)
        self.assertEqual(entry.expiresAt, second.clock.seconds() + 60)

    def test_refreshOnTime(self) -> None:
        """
        sst refreshes the B-leg at the saved time (SE/2 after the answer), in the B-leg's
        dialog; the answer re-arms the B-leg's expiry and the next refresh, SE/2 later.
        """
        h = self.first()
        self.call(h)
        second = self.restart(h, 20)
        second.clock.advance(44.9 - second.clock.seconds())
        self.assertEqual(second.requestsTo(CALLEE, "UPDATE"), [])
        second.clock.advance(0.1)
        [update] = second.requestsTo(CALLEE, "UPDATE")
        self.assertEqual((update.toTag, update.cseq().number, update.header("session-expires")),
                         ("callee1", 2 + CSEQ_MARGIN, "90;refresher=uac"))
        second.answerLast(CALLEE, 200, "Session-Expires: 90;refresher=uac")
        self.assertEqual(second.requestsTo(CALLER, "UPDATE"), [])
        call = next(iter(second.b2bua.calls.values()))
        assert call.b.tableId is not None
        self.assertEqual((call.b.nextRefresh, second.dialogs.get(call.b.tableId).expiresAt),
                         (90.0, 105.0))

    def test_overdueRefreshAtOnce(self) -> None:
        """
        A refresh whose time passed while sst was down is sent at once.
        """
        h = self.first()
        self.call(h)
        second = self.restart(h, 50)
        self.assertEqual(second.requestsTo(CALLEE, "UPDATE"), [])
        second.clock.advance(0)
        self.assertEqual(len(second.requestsTo(CALLEE, "UPDATE")), 1)

    def test_cseqAboveUnsaved(self) -> None:
        """
        A request sst sent after the call was last saved (a refresh that failed, not saved)
        does not have its CSeq reused after the restart.
        """
        h = self.first()
        self.call(h)
        h.clock.advance(45)
        [failed] = h.requestsTo(CALLEE, "UPDATE")
        h.answerLast(CALLEE, 500)
        second = self.restart(h, 1)
        second.fromCaller(second.callerRequest("BYE", h.responsesTo(CALLER, 200)[0], cseq=2))
        [bye] = second.requestsTo(CALLEE, "BYE")
        self.assertGreater(bye.cseq().number, failed.cseq().number)

    def test_reinviteRefreshResendsNewSDP(self) -> None:
        """
        An offer relayed before the restart is saved: sst's re-INVITE refresh of the B-leg
        (the callee does not allow UPDATE) afterwards carries the new SDP.
        """
        h = self.first()
        ok, _ = self.call(h, okHeaders=("Session-Expires: 90;refresher=uac",))
        h.clock.advance(5)
        h.fromCaller(h.callerRequest("INVITE", ok, "Supported: timer",
                                     "Session-Expires: 90;refresher=uac", cseq=2,
                                     body=NEW_OFFER))
        h.answerLast(CALLEE, 200, "Session-Expires: 90;refresher=uac", body=NEW_ANSWER)
        second = self.restart(h, 5)
        second.clock.advance(45)
        [refresh] = second.requestsTo(CALLEE, "INVITE")
        self.assertEqual(refresh.body, NEW_OFFER.encode())
        self.assertEqual(refresh.header("content-type"), "application/sdp")

    def test_targetRefreshSaved(self) -> None:
        """
        A Contact the caller changed in a refresh before the restart is where sst's BYE goes
        after it.
        """
        h = self.first()
        ok, invite = self.call(h)
        h.clock.advance(5)
        refresh = h.callerRequest("UPDATE", ok, "Supported: timer",
                                  "Session-Expires: 90;refresher=uac", cseq=2)
        h.fromCaller(refresh.replace("<sip:alice@127.0.0.1:5061>", "<sip:alice@127.0.0.1:5099>"))
        self.assertEqual(h.lastResponseTo(CALLER).code, 200)
        second = self.restart(h, 5)
        second.fromCallee(second.calleeRequest("BYE", invite, cseq=2))
        [bye] = [m for m, _ in second.sent if isinstance(m, Request) and m.method == "BYE"]
        self.assertEqual(bye.uri, "sip:alice@127.0.0.1:5099")
        self.assertEqual(second.sent[-1][1].port, 5099)


class EndAfterRestartTests(_RestoreTestCase):
    """
    A restored call ends on both legs.
    """

    def test_byeFromCaller(self) -> None:
        """
        The caller's BYE is answered and ends the B-leg with a BYE in its dialog.
        """
        h = self.first()
        ok, invite = self.call(h)
        second = self.restart(h, 10)
        second.fromCaller(second.callerRequest("BYE", ok, cseq=2))
        self.assertEqual(second.lastResponseTo(CALLER).code, 200)
        [bye] = second.requestsTo(CALLEE, "BYE")
        self.assertBye(bye, invite.callId, invite.fromTag, "callee1", 2 + CSEQ_MARGIN,
                       "sip:peer@127.0.0.1:5070")
        second.answerLast(CALLEE, 200)
        self.assertFreed(second)

    def test_byeFromCallee(self) -> None:
        """
        The callee's BYE is answered and ends the A-leg with a BYE in its dialog.
        """
        h = self.first()
        ok, invite = self.call(h)
        second = self.restart(h, 10)
        second.fromCallee(second.calleeRequest("BYE", invite, cseq=2))
        self.assertEqual(second.lastResponseTo(CALLEE).code, 200)
        [bye] = second.requestsTo(CALLER, "BYE")
        self.assertBye(bye, "call-1", ok.toTag, "caller1", 1 + CSEQ_MARGIN,
                       "sip:alice@127.0.0.1:5061")
        second.answerLast(CALLER, 200)
        self.assertFreed(second)

    def test_expiredWhileDown(self) -> None:
        """
        A call whose entries expired while sst was down gets one BYE on each leg, in each
        leg's dialog, with the session-timer Reason, as soon as it is restored.
        """
        h = self.first()
        ok, invite = self.call(h)
        second = self.restart(h, 100)
        [aBye] = second.requestsTo(CALLER, "BYE")
        [bBye] = second.requestsTo(CALLEE, "BYE")
        self.assertBye(aBye, "call-1", ok.toTag, "caller1", 1 + CSEQ_MARGIN,
                       "sip:alice@127.0.0.1:5061")
        self.assertBye(bBye, invite.callId, invite.fromTag, "callee1", 2 + CSEQ_MARGIN,
                       "sip:peer@127.0.0.1:5070")
        self.assertEqual((aBye.header("reason"), bBye.header("reason")),
                         (EXPIRY_REASON, EXPIRY_REASON))
        self.assertEqual(second.stats.get("expiry_byes"), 2)
        second.answerLast(CALLER, 200)
        second.answerLast(CALLEE, 200)
        self.assertFreed(second)

    def test_expiredWithOneEntry(self) -> None:
        """
        When only the A-leg's entry is in the file (the B-leg's was lost), and it expired
        while sst was down, both legs still get their BYE: the entry holds the whole call.
        """
        h = self.first()
        ok, invite = self.call(h)
        assert self.store is not None
        self.store.close()
        connection = sqlite3.connect(self.path)
        with connection:
            connection.execute("DELETE FROM dialogs WHERE call_id = ?", (invite.callId,))
        connection.close()
        self.assertEqual(self.rows(), ["call-1"])
        second = self.restart(h, 100)
        [aBye] = second.requestsTo(CALLER, "BYE")
        [bBye] = second.requestsTo(CALLEE, "BYE")
        self.assertBye(aBye, "call-1", ok.toTag, "caller1", 1 + CSEQ_MARGIN,
                       "sip:alice@127.0.0.1:5061")
        self.assertBye(bBye, invite.callId, invite.fromTag, "callee1", 2 + CSEQ_MARGIN,
                       "sip:peer@127.0.0.1:5070")
        second.answerLast(CALLER, 200)
        second.answerLast(CALLEE, 200)
        self.assertFreed(second)

    def test_expiresOnTime(self) -> None:
        """
        A restored A-leg the caller does not refresh expires at its saved deadline (60 s for
        SE 90), with BYE on both legs.
        """
        h = self.first()
        self.call(h, okHeaders=("Session-Expires: 90;refresher=uas",))
        second = self.restart(h, 10)
        second.clock.advance(59.9 - second.clock.seconds())
        self.assertEqual(second.requestsTo(CALLER, "BYE"), [])
        second.clock.advance(0.1)
        self.assertEqual(len(second.requestsTo(CALLER, "BYE")), 1)
        self.assertEqual(len(second.requestsTo(CALLEE, "BYE")), 1)


class ForgottenTests(_RestoreTestCase):
    """
    A leg's entry forgotten by the table (another node of a cluster holds the call) drops
    the whole call here, silently.
    """

    def test_callDropped(self) -> None:
        h = self.first()
        ok, invite = self.call(h)
        before = len(h.requestsTo(CALLEE)) + len(h.requestsTo(CALLER))
        [legA] = [entry for entry in h.dialogs if entry.id.callId == ok.callId]
        self.assertTrue(h.dialogs.forget(legA))
        self.assertEqual(h.b2bua.calls, {})
        self.assertEqual(h.b2bua.legs, {})
        self.assertEqual(h.ua.dialogs, {})
        self.assertEqual(len(h.dialogs), 0)
        h.clock.advance(3600)
        self.assertEqual(len(h.requestsTo(CALLEE)) + len(h.requestsTo(CALLER)), before)
        # Neither entry was deleted from the store: the other node keeps them.
        assert self.store is not None
        self.store.flush()
        self.assertEqual(self.rows(), sorted([ok.callId, invite.callId]))
