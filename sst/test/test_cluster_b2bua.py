"""
B2BUA calls in a cluster: a node takes over, on an in-dialog request, the call of a node
that died (L{sst.cluster.store.ClusterStore.load} with C{takeOver}), with both legs, and
refreshes and ends it from the state in Redis.

Two in-process B2BUA stacks on one clock share a real C{redis-server}.
"""
from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from sst.b2bua.persistence import CSEQ_MARGIN
from sst.cluster.config import parseRedisURL
from sst.cluster.link import RedisLink
from sst.cluster.store import ClusterStore
from sst.test.b2bua_harness import CALLEE, CALLER, B2BUAHarness
from sst.test.redisserver import RedisServer
from sst.test._support import waitUntil

ARGS = ["--min-se", "90", "--session-expires", "1800"]
NEW_OFFER = "v=0\r\no=caller 1 2 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\n"


class TakeOverTests(TestCase):
    """
    A survivor takes a dead node's call over when one of its parties sends a request.
    """

    def setUp(self) -> Any:
        self.server = RedisServer()
        self.server.start()
        self.addCleanup(self.server.cleanup)

    def node(self, name: str, now: float = 0.0) -> tuple[B2BUAHarness, ClusterStore]:
        h = B2BUAHarness(ARGS)
        h.clock.advance(now)
        link = RedisLink(parseRedisURL(self.server.url), reactor)
        store = ClusterStore(link, h.dialogs, h.clock, name, h.stats, takeOver=True)
        self.addCleanup(link.close)
        return h, store

    def flush(self, h: B2BUAHarness) -> None:
        h.clock.advance(0.01)

    @inlineCallbacks
    def callOnA(self) -> Any:
        """
        Node C{a} sets a call up (the caller refreshes, Session-Expires 90) and writes both
        legs to Redis.

        @return: node C{a}'s stack and store, sst's 200 to the caller and its INVITE to the
            callee.
        """
        first, firstStore = self.node("a")
        yield waitUntil(lambda: firstStore.link.up)
        firstStore.start()
        ok, invite = first.establish("Session-Expires: 90",
                                     okHeaders=("Session-Expires: 90;refresher=uac",))
        self.flush(first)
        yield waitUntil(lambda: self.server.command("ZCARD", "sst:deadlines") == b":2\r\n")
        return first, firstStore, ok, invite

    @inlineCallbacks
    def secondNode(self, now: float) -> Any:
        """
        @return: node C{b}'s stack and store, started, on a clock at C{now}.
        """
        second, secondStore = self.node("b", now)
        yield waitUntil(lambda: secondStore.link.up)
        secondStore.start()
        return second, secondStore

    @inlineCallbacks
    def test_reinviteTakesTheCallOver(self) -> Any:
        first, firstStore, ok, invite = yield self.callOnA()
        # Node a dies: its timers stop, and its liveness key goes.
        firstStore._loop.stop()
        first.dialogs.arbiter = None
        self.server.command("DEL", "sst:alive:a")

        second, secondStore = yield self.secondNode(first.clock.seconds() + 10)
        second.fromCaller(second.callerRequest("INVITE", ok, "Supported: timer",
                                               "Session-Expires: 90;refresher=uac", cseq=2,
                                               body=NEW_OFFER))
        yield waitUntil(lambda: second.requestsTo(CALLEE, "INVITE") != [])
        [relayed] = second.requestsTo(CALLEE, "INVITE")
        self.assertEqual((relayed.callId, relayed.fromTag, relayed.toTag,
                          relayed.cseq().number),
                         (invite.callId, invite.fromTag, "callee1", 2 + CSEQ_MARGIN))
        self.assertEqual(second.stats.get("cluster_claimed"), 2)
        self.assertEqual(len(second.b2bua.calls), 1)
        second.answerLast(CALLEE, 200, "Session-Expires: 90;refresher=uac")
        self.assertEqual(second.lastResponseTo(CALLER).code, 200)
        # Both legs are b's now.
        self.flush(second)
        owners = [self.server.command("HGET", key.decode("latin-1"), "o")
                  for key in self.server.command("KEYS", "sst:d:*").split(b"\r\n")
                  if key.startswith(b"sst:d:")]
        self.assertEqual(owners, [b"$1\r\nb\r\n"] * 2)
        # The caller hangs up through b: BYE on the B-leg, and Redis ends empty.
        second.fromCaller(second.callerRequest("BYE", ok, cseq=3))
        [bye] = second.requestsTo(CALLEE, "BYE")
        second.answerLast(CALLEE, 200)
        self.flush(second)
        yield waitUntil(lambda: self.server.command("ZCARD", "sst:deadlines") == b":0\r\n")
        yield secondStore.stop()
        yield firstStore.link.close()

    @inlineCallbacks
    def test_liveOwnerKeepsItsCall(self) -> Any:
        """
        While the node that holds the call is alive, another node answers 481 and takes
        nothing.
        """
        first, firstStore, ok, _ = yield self.callOnA()
        second, secondStore = yield self.secondNode(first.clock.seconds())
        second.fromCaller(second.callerRequest("BYE", ok, cseq=2))
        yield waitUntil(lambda: second.responsesTo(CALLER) != [])
        self.assertEqual(second.lastResponseTo(CALLER).code, 481)
        self.assertEqual(second.stats.get("cluster_claimed"), 0)
        self.assertEqual(second.b2bua.calls, {})
        yield secondStore.stop()
        yield firstStore.stop()
