"""
Tests for L{sst.cluster}: the shared dialog table in a real C{redis-server}.

Dialog timers run on a L{Clock} set to the wall clock (Redis compares deadlines with the
times the nodes send); the Redis traffic goes through the real reactor.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks
from twisted.internet.task import Clock, deferLater
from twisted.logger import capturedLogs
from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

from sst.cluster.config import parseRedisURL
from sst.cluster.layout import Keys, SavedDialog
from sst.cluster.link import RedisLink, RedisUnavailable
from sst.cluster.scripts import SWEEP
from sst.cluster.store import ClusterStore
from sst.dialogs import DialogId, DialogState, DialogTable, IDialogObserver, IExpiryArbiter
from sst.sessiontimer import ExpiryCounter
from sst.stats import Stats
from sst.test._support import waitUntil as _waitUntil
from sst.test.redisserver import RedisServer


def waitUntil(condition: Callable[[], bool], timeout: float = 10.0) -> Deferred[None]:
    """
    L{sst.test._support.waitUntil}, with the 10 s a Redis reconnection may need.
    """
    return _waitUntil(condition, timeout)


class Node:
    """
    One node of a test cluster: a dialog table on a clock, its counters and its store.
    """

    def __init__(self, server: RedisServer, name: str, clock: Clock, **options: Any) -> None:
        self.clock = clock
        self.stats = Stats()
        self.table = DialogTable(clock)
        self.table.addObserver(ExpiryCounter(self.stats))
        self.link = RedisLink(parseRedisURL(server.url), reactor, timeout=2.0)
        self.store = ClusterStore(self.link, self.table, clock, name, self.stats, **options)

    def expired(self) -> int:
        return self.stats.get("expired_sst")


class ClusterTestCase(TestCase):
    """
    Starts a C{redis-server} for each test.
    """

    def setUp(self) -> Any:
        self.server = RedisServer()
        self.server.start()
        self.addCleanup(self.server.cleanup)
        self.clock = Clock()
        self.clock.advance(time.time())
        self.nodes: list[Node] = []

    def node(self, name: str, start: bool = True, **options: Any) -> Deferred[Node]:
        node = Node(self.server, name, self.clock, **options)
        self.nodes.append(node)
        self.addCleanup(lambda: node.store.stop() if start else node.link.close())
        d = waitUntil(lambda: node.link.up)

        def started(_: object) -> Node:
            if start:
                node.store.start()
            return node

        return d.addCallback(started)

    def redis(self, *args: str | bytes) -> bytes:
        return self.server.command(*args)

    def flush(self) -> None:
        """
        Run the writes the clock holds.
        """
        self.clock.advance(0.01)

    def die(self, node: Node, name: str, liveness: bool = True) -> None:
        """
        C{node} dies as with C{kill -9}: no more heartbeats, sweeps, writes or expiries;
        its liveness key goes too (at once, rather than after its TTL) unless
        C{liveness} is false.
        """
        node.store._loop.stop()
        node.table.arbiter = None
        node.table.removeObserver(node.store)
        if liveness:
            self.redis("DEL", "sst:alive:" + name)

    def exists(self, key: bytes) -> bool:
        return self.redis("EXISTS", key) == b":1\r\n"

    def seedOverdue(self, callId: str, owner: str, now: float) -> str:
        """
        Write a confirmed dialog of C{owner} straight into Redis, its expiry one second
        before C{now}.

        @return: its key.
        """
        key = Keys().dialog(callId, "f", "t").decode()
        self.redis("HSET", key, "c", callId, "f", "f", "t", "t", "s", "confirmed", "i", "90",
                   "r", "uac", "ca", repr(now - 100), "ea", repr(now - 1), "x", "", "o", owner)
        self.redis("ZADD", "sst:deadlines", repr(now - 1), key)
        return key

    def openLink(self) -> Deferred[RedisLink]:
        """
        @return: a link of its own to the test's Redis, once connected (closed at clean-up).
        """
        link = RedisLink(parseRedisURL(self.server.url), reactor)
        self.addCleanup(link.close)
        return waitUntil(lambda: link.up).addCallback(lambda _: link)

    @staticmethod
    def sweep(link: RedisLink, node: str, at: float, limit: int = 100) -> Deferred[Any]:
        """
        @return: what L{SWEEP} claims for C{node} at time C{at} (grace 5 s, lease 6 s).
        """
        keys = Keys()
        return link.evaluate(SWEEP, (keys.deadlines,),
                             (node, repr(at), limit, keys.alive, "5", "6", keys.nodes))


class StoreTests(ClusterTestCase):
    """
    L{ClusterStore} writes, loads and expires dialogs through Redis.
    """

    @inlineCallbacks
    def test_interfaces(self) -> Any:
        node = yield self.node("a")
        self.assertTrue(verifyObject(IDialogObserver, node.store))
        self.assertTrue(verifyObject(IExpiryArbiter, node.store))
        self.assertIs(node.table.arbiter, node.store)

    @inlineCallbacks
    def test_confirmedDialogSavedAndDeleted(self) -> Any:
        """
        A confirmed dialog's hash holds its state and owner, the deadline set its deadline;
        its termination deletes both.  An early dialog is not written.
        """
        node = yield self.node("a")
        keys = Keys()
        dialogId = DialogId("call-1@host", "ft", "tt")
        dialog = node.table.create(dialogId, lifetime=90.0, interval=90, refresher="uac")
        self.flush()
        key = keys.dialog(*dialogId)
        self.assertFalse(self.exists(key))
        node.table.confirm(dialogId)
        self.flush()
        yield waitUntil(lambda: self.exists(key))
        fields = self.redis("HGETALL", key.decode("latin-1"))
        self.assertIn(b"confirmed", fields)
        score = self.redis("ZSCORE", "sst:deadlines", key.decode("latin-1"))
        self.assertAlmostEqual(float(score.split(b"\r\n")[1]), dialog.expiresAt, places=3)
        node.table.terminate(dialogId, "bye")
        self.flush()
        yield waitUntil(lambda: not self.exists(key))
        self.assertEqual(self.redis("ZCARD", "sst:deadlines"), b":0\r\n")

    @inlineCallbacks
    def test_oddCallIdRoundTrip(self) -> Any:
        """
        Any octet of a Call-ID or tag (the parser reads them as Latin-1) comes back as it
        went in.
        """
        a = yield self.node("a")
        b = yield self.node("b")
        dialogId = DialogId("\xe9t\xe9:x y@[::1]", "t\xff", "u")
        a.table.create(dialogId, confirmed=True, lifetime=60.0, interval=60, refresher="uas")
        self.flush()
        yield waitUntil(lambda: self.exists(Keys().dialog(*dialogId)))
        loaded = yield b.store.load(dialogId.callId, "u", "t\xff")
        self.assertIsNotNone(loaded)
        self.assertEqual(loaded.id, dialogId)
        self.assertEqual((loaded.interval, loaded.refresher), (60, "uas"))
        self.assertEqual(b.stats.get("cluster_loaded"), 1)

    @inlineCallbacks
    def test_refreshElsewhereMovesTheDeadline(self) -> Any:
        """
        Node B loads a dialog A made and refreshes it: when A's timer fires at the old
        deadline, A re-arms for the new one, and expires the dialog there; the dialog
        expires once, on A.
        """
        a = yield self.node("a")
        b = yield self.node("b")
        dialogId = DialogId("refresh@x", "f", "t")
        a.table.create(dialogId, confirmed=True, lifetime=30.0, interval=30, refresher="uac")
        self.flush()
        key = Keys().dialog(*dialogId)
        yield waitUntil(lambda: self.exists(key))
        self.clock.advance(10)
        guest = yield b.store.load(dialogId.callId, "f", "t")
        self.assertIsNotNone(guest)
        b.table.refresh(dialogId, 30.0, 30, "uac")
        newDeadline = self.clock.seconds() + 30
        self.flush()
        yield waitUntil(lambda: b"%r" % newDeadline in self.redis("HGET", key.decode(), "ea"))
        self.clock.advance(19.99)  # A's old deadline
        yield waitUntil(lambda: a.stats.get("cluster_rearmed") == 1)
        self.assertAlmostEqual(a.table.get(dialogId).expiresAt, newDeadline)
        self.assertEqual(a.expired(), 0)
        self.clock.advance(10)  # the new deadline: both timers fire
        yield waitUntil(lambda: a.expired() + b.expired() == 1 and len(b.table) == 0
                        and len(a.table) == 0)
        self.assertEqual((a.expired(), b.expired()), (1, 0))
        self.assertEqual(b.stats.get("cluster_handed_over"), 1)
        self.assertFalse(self.exists(key))

    @inlineCallbacks
    def test_endedElsewhere(self) -> Any:
        """
        A dialog ended through another node is dropped at its timer, not expired.
        """
        a = yield self.node("a")
        b = yield self.node("b")
        dialogId = DialogId("ended@x", "f", "t")
        a.table.create(dialogId, confirmed=True, lifetime=30.0, interval=30, refresher="uac")
        self.flush()
        key = Keys().dialog(*dialogId)
        yield waitUntil(lambda: self.exists(key))
        yield b.store.load(dialogId.callId, "t", "f")
        b.table.terminate(dialogId, "bye")
        self.flush()
        yield waitUntil(lambda: not self.exists(key))
        self.clock.advance(30)
        yield waitUntil(lambda: len(a.table) == 0)
        self.assertEqual(a.expired(), 0)
        self.assertEqual(a.stats.get("cluster_handed_over"), 1)

    @inlineCallbacks
    def test_deadNodesDialogsExpireOnceOnASurvivor(self) -> Any:
        """
        The dialogs of a node that died are expired at their deadline by exactly one of
        the survivors, which counts them.
        """
        dead = yield self.node("dead")
        for n in range(20):
            dead.table.create(DialogId("c%d" % n, "f", "t"), confirmed=True, lifetime=40.0 + n,
                              interval=90, refresher="uac")
        self.flush()
        yield waitUntil(lambda: self.redis("ZCARD", "sst:deadlines") == b":20\r\n")
        self.die(dead, "dead")
        survivors = []
        for name in ("s1", "s2", "s3"):
            survivors.append((yield self.node(name)))
        self.clock.advance(45)  # 6 dialogs are overdue
        for survivor in survivors:
            survivor.store.tick()
        yield waitUntil(lambda: sum(s.expired() for s in survivors) == 6)
        self.clock.advance(20)
        for survivor in survivors:
            survivor.store.tick()
        yield waitUntil(lambda: sum(s.expired() for s in survivors) == 20)
        yield waitUntil(lambda: self.redis("ZCARD", "sst:deadlines") == b":0\r\n")
        for survivor in survivors:
            survivor.store.tick()
        yield deferLater(reactor, 0.2, lambda: None)
        self.assertEqual(sum(s.expired() for s in survivors), 20)
        self.assertEqual(sum(s.stats.get("cluster_claimed") for s in survivors), 20)

    @inlineCallbacks
    def test_liveOwnersDialogsAreNotClaimed(self) -> Any:
        """
        A sweeper leaves alone the overdue dialogs of a node whose liveness key is there.
        """
        a = yield self.node("a")
        b = yield self.node("b")
        a.table.create(DialogId("live", "f", "t"), confirmed=True, lifetime=5.0)
        self.flush()
        yield waitUntil(lambda: self.redis("ZCARD", "sst:deadlines") == b":1\r\n")
        a.table.arbiter = None  # a is slow to expire it
        a.store._loop.stop()
        self.clock.advance(6)
        b.store.tick()
        yield deferLater(reactor, 0.2, lambda: None)
        self.assertEqual(b.stats.get("cluster_claimed"), 0)


class SweepScriptTests(ClusterTestCase):
    """
    The L{SWEEP} script under concurrent sweepers.
    """

    @inlineCallbacks
    def test_concurrentSweepersClaimEachDialogOnce(self) -> Any:
        """
        Eight connections sweep at once over 2,000 overdue dialogs of a dead node: every
        dialog is claimed, by exactly one of them.
        """
        now = time.time()
        for n in range(2000):
            self.seedOverdue("c%d" % n, "dead", now)
        links = yield gatherResults([self.openLink() for _ in range(8)])
        for n in range(8):
            self.redis("SET", "sst:alive:s%d" % n, "1")
        claimed: list[str] = []
        for round in range(10):
            replies = yield gatherResults([
                self.sweep(link, "s%d" % n, now, limit=150) for n, link in enumerate(links)])
            for n, reply in enumerate(replies):
                claimed.extend(SavedDialog.fromHash(flat).id.callId for flat in reply)
        self.assertEqual(len(claimed), 2000)
        self.assertEqual(len(set(claimed)), 2000)


class OutageTests(ClusterTestCase):
    """
    Without Redis a node serves from memory, and writes everything again once it is back.
    """

    @inlineCallbacks
    def test_redisRestartedEmpty(self) -> Any:
        node = yield self.node("a")
        node.store.tick()
        first = DialogId("before", "f", "t")
        node.table.create(first, confirmed=True, lifetime=60.0, interval=60, refresher="uac")
        short = DialogId("short", "f", "t")
        node.table.create(short, confirmed=True, lifetime=5.0, interval=5, refresher="uac")
        self.flush()
        yield waitUntil(lambda: self.exists(Keys().dialog(*first))
                        and self.exists(Keys().dialog(*short)))
        self.server.stop()
        yield waitUntil(lambda: not node.link.up)
        errors = node.stats.get("redis_errors")
        node.store.tick()
        self.assertEqual(node.store.gauges()["redis_up"], 0)
        self.assertEqual(node.stats.get("redis_errors"), errors + 1)
        second = DialogId("during", "f", "t")
        node.table.create(second, confirmed=True, lifetime=20.0, interval=20, refresher="uac")
        self.flush()
        self.assertEqual(node.store.pending, 1)
        lost = yield node.store.load("x", "y", "z")
        self.assertIsNone(lost)
        # An expiry while Redis is away happens here, and is counted; its hash is deleted
        # once Redis is back.
        self.clock.advance(5)
        self.assertEqual(node.expired(), 1)
        self.assertEqual(node.stats.get("cluster_local_expiries"), 1)
        self.assertEqual(node.store.pending, 2)
        self.server.start()
        self.redis("HSET", Keys().dialog(*short), "o", "a")  # as if Redis had kept it
        yield waitUntil(lambda: node.link.up, timeout=30)
        node.store.tick()
        yield waitUntil(lambda: self.exists(Keys().dialog(*first))
                        and self.exists(Keys().dialog(*second)))
        self.assertFalse(self.exists(Keys().dialog(*short)))
        self.assertEqual(len(node.table), 2)
        self.assertEqual(node.store.gauges()["redis_up"], 1)

    @inlineCallbacks
    def test_unreachableAtStart(self) -> Any:
        """
        A Redis that is not there when the node starts is reported once, two seconds on,
        and counted; the node serves from memory.
        """
        node = yield self.node("a", start=False)
        self.server.stop()
        yield waitUntil(lambda: not node.link.up)
        node.store.start()
        with capturedLogs() as events:
            for _ in range(6):
                self.clock.advance(0.5)
        warnings = [e for e in events if "not reachable" in e.get("log_format", "")]
        self.assertEqual(len(warnings), 1)
        self.assertEqual(node.stats.get("redis_errors"), 1)
        dialogId = DialogId("c", "f", "t")
        node.table.create(dialogId, confirmed=True, lifetime=50.0)
        self.flush()
        self.assertEqual(node.store.pending, 1)
        # Redis comes: the node writes what waited, and reads back what it owned there.
        self.server.start()
        self.redis("HSET", "sst:d:old f t", "c", "old", "f", "f", "t", "t", "s", "confirmed",
                   "i", "", "r", "", "ca", repr(self.clock.seconds()),
                   "ea", repr(self.clock.seconds() + 100), "x", "", "o", "a")
        self.redis("SADD", "sst:n:a", "sst:d:old f t")
        yield waitUntil(lambda: node.link.up, timeout=30)
        self.clock.advance(0.5)
        yield waitUntil(lambda: self.exists(Keys().dialog(*dialogId))
                        and DialogId("old", "f", "t") in node.table)

    @inlineCallbacks
    def test_commandsFailAtOnceWithoutConnection(self) -> Any:
        node = yield self.node("a", start=False)
        self.server.stop()
        yield waitUntil(lambda: not node.link.up)
        d = node.link.call(b"PING")
        yield self.assertFailure(d, RedisUnavailable)
        self.assertEqual(node.link.failures, 1)


class GroupTests(ClusterTestCase):
    """
    The dialogs of one B2BUA call (a group) are taken over together.
    """

    @inlineCallbacks
    def test_legsClaimedTogether(self) -> Any:
        """
        When one leg of a dead node's call falls due, the sweeper claims the other leg
        with it (not yet due), and no unrelated dialog.
        """
        dead = yield self.node("dead")
        legA = dead.table.create(DialogId("a-call", "f", "t"), confirmed=True, lifetime=60.0,
                                 interval=90, refresher="uac")
        legB = dead.table.create(DialogId("b-call", "f2", "t2"), confirmed=True, lifetime=600.0)
        other = dead.table.create(DialogId("other", "f", "t"), confirmed=True, lifetime=600.0)
        legA.extra = {"call": "a-call", "leg": "a"}
        legB.extra = {"call": "a-call", "leg": "b"}
        dead.table.touch(legA.id)
        dead.table.touch(legB.id)
        self.flush()
        yield waitUntil(lambda: self.redis("SCARD", "sst:g:a-call") == b":2\r\n")
        self.die(dead, "dead")
        survivor = yield self.node("s1")
        self.clock.advance(61)
        survivor.store.tick()
        yield waitUntil(lambda: survivor.stats.get("cluster_claimed") == 2)
        self.assertIn(legB.id, survivor.table)
        self.assertNotIn(other.id, survivor.table)
        yield waitUntil(lambda: survivor.expired() == 1)
        # The expired leg left its group.
        yield waitUntil(lambda: self.redis("SCARD", "sst:g:a-call") == b":1\r\n")
        self.assertEqual(self.redis("HGET", Keys().dialog(*legB.id), "o"), b"$2\r\ns1\r\n")
        survivor.table.terminate(legB.id)
        self.flush()
        yield waitUntil(lambda: self.redis("EXISTS", "sst:g:a-call") == b":0\r\n")


class ChainedEndTests(ClusterTestCase):
    """
    An expiry that ends another dialog (a B2BUA call's other leg) deletes that one too.
    """

    @inlineCallbacks
    def test_otherLegDeleted(self) -> Any:
        from sst.dialogs import Dialog, DialogObserverBase

        node = yield self.node("a")
        legA = node.table.create(DialogId("leg-a", "f", "t"), confirmed=True, lifetime=30.0,
                                 interval=90, refresher="uac")
        legB = node.table.create(DialogId("leg-b", "f", "t"), confirmed=True, lifetime=300.0)
        table = node.table

        class EndsTheCall(DialogObserverBase):
            def dialogExpired(self, dialog: Dialog) -> None:
                if dialog.id == legA.id:
                    table.terminate(legB.id, "ended")

        table.addObserver(EndsTheCall())
        self.flush()
        yield waitUntil(lambda: self.redis("ZCARD", "sst:deadlines") == b":2\r\n")
        self.clock.advance(30)
        yield waitUntil(lambda: node.expired() == 1)
        self.flush()
        yield waitUntil(lambda: self.redis("ZCARD", "sst:deadlines") == b":0\r\n")
        self.assertFalse(self.exists(Keys().dialog(*legB.id)))


class RestartUnderTheSameNameTests(ClusterTestCase):
    """
    A node restarted under the same C{--node-id} takes its dialogs back at once.
    """

    @inlineCallbacks
    def test_adopted(self) -> Any:
        first = yield self.node("a")
        dialogId = DialogId("mine", "f", "t")
        deadline = first.table.create(dialogId, confirmed=True, lifetime=40.0, interval=90,
                                      refresher="uac").expiresAt
        self.flush()
        yield waitUntil(lambda: self.exists(Keys().dialog(*dialogId)))
        self.die(first, "a", liveness=False)
        self.clock.advance(10)
        again = yield self.node("a")
        yield waitUntil(lambda: dialogId in again.table)
        self.assertEqual(again.table.get(dialogId).expiresAt, deadline)
        self.clock.advance(deadline - self.clock.seconds())
        yield waitUntil(lambda: again.expired() == 1)
        self.assertEqual(again.stats.get("cluster_claimed"), 0)


class TakeScriptTests(ClusterTestCase):
    """
    L{TAKE}: a dead node's call, with its group, goes to the asking node; a live node's
    stays.
    """

    @inlineCallbacks
    def test_take(self) -> Any:
        owner = yield self.node("owner")
        for callId in ("a-leg", "b-leg"):
            dialog = owner.table.create(DialogId(callId, "f", "t"), confirmed=True,
                                        lifetime=600.0)
            dialog.extra = {"call": "a-leg"}
            owner.table.touch(dialog.id)
        self.flush()
        yield waitUntil(lambda: self.redis("SCARD", "sst:g:a-leg") == b":2\r\n")
        taker = yield self.node("taker", takeOver=True)
        held = yield taker.store.load("a-leg", "t", "f")
        self.assertIsNone(held)
        self.assertEqual(len(taker.table), 0)
        self.die(owner, "owner")
        taken = yield taker.store.load("a-leg", "t", "f")
        self.assertEqual(taken.id, DialogId("a-leg", "f", "t"))
        self.assertEqual(sorted(d.id.callId for d in taker.table), ["a-leg", "b-leg"])
        self.assertEqual(self.redis("SMEMBERS", "sst:n:owner"), b"*0\r\n")
        self.assertEqual(self.redis("SCARD", "sst:n:taker"), b":2\r\n")
        nothing = yield taker.store.load("no-such-call", "t", "f")
        self.assertIsNone(nothing)


class LeaseTests(ClusterTestCase):
    """
    A claimer that dies before it acts loses its claim when the lease runs out.
    """

    @inlineCallbacks
    def test_leaseRunsOut(self) -> Any:
        now = self.clock.seconds()
        self.seedOverdue("leased", "dead", now)
        link = yield self.openLink()
        first = yield self.sweep(link, "doomed", now)
        self.assertEqual(len(first), 1)
        # The claimer is not alive (no liveness key): nobody claims it before the lease ends...
        again = yield self.sweep(link, "s2", now + 5)
        self.assertEqual(again, [])
        # ... and another node does once it has.
        later = yield self.sweep(link, "s2", now + 7)
        self.assertEqual([SavedDialog.fromHash(flat).owner for flat in later], ["doomed"])


class OwnOverdueTests(ClusterTestCase):
    """
    A node's sweeper takes back its own dialog only once it is overdue by more than the
    grace period (its timer should have fired: the node lost it).
    """

    @inlineCallbacks
    def test_grace(self) -> Any:
        now = self.clock.seconds()
        self.seedOverdue("own", "me", now)
        self.redis("SET", "sst:alive:me", "1")
        link = yield self.openLink()
        within = yield self.sweep(link, "me", now + 3)
        self.assertEqual(within, [])
        past = yield self.sweep(link, "me", now + 5)
        self.assertEqual([SavedDialog.fromHash(flat).id.callId for flat in past], ["own"])


class SlowRedisTests(ClusterTestCase):
    """
    A Redis that stops answering never holds the reactor: its connection is given up.
    """

    @inlineCallbacks
    def test_lateReplyClosesTheConnection(self) -> Any:
        node = yield self.node("a", start=False)
        node.link.timeout = 0.3
        started = time.monotonic()
        blocked = node.link.call(b"DEBUG", b"SLEEP", b"3")
        waiting = node.link.call(b"PING")
        yield deferLater(reactor, 0.5, lambda: None)
        node.link.watch()
        yield self.assertFailure(waiting, Exception)
        yield self.assertFailure(blocked, Exception)
        # Given up after the time-out, not after Redis's three seconds.
        self.assertLess(time.monotonic() - started, 2.0)
        self.assertGreaterEqual(node.link.failures, 2)
