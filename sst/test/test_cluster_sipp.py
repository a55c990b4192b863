# -*- test-case-name: sst.test.test_cluster_sipp -*-
"""
Integration tests of a cluster: three C{twistd sst} nodes sharing one C{redis-server}
(C{--store redis://}), SIPp callers and callees, all on loopback UDP.

A small stateless dispatcher (L{Dispatcher}), like Kamailio's in front of a cluster,
listens on the address every node advertises (C{--advertise}): it sends each request from
a client to the node a policy picks from its Call-ID, CSeq number and method, and each
datagram from a node back to the client that sent that Call-ID's requests.  SIPp's Via
has C{rport}, so the nodes answer the dispatcher; they reach the callee directly
(C{--next-hop}), and the callee answers them directly, by their own Via.

Most tests take a few seconds.  L{ClusterKillTests} waits for real session timers after
a node is killed: about 95 s in proxy mode (Session-Expires 90, the RFC minimum) and
about 65 s in B2BUA mode (the BYE 60 s after the 200, RFC 4028 section 10).
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from twisted.internet import reactor as _globalReactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.error import ProcessTerminated
from twisted.internet.interfaces import IReactorProcess, IReactorTime, IReactorUDP
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from sst.expiry import EXPIRY_REASON
from sst.test.nodeprocess import TWISTD, NodeProcess, getJSON, startNode
from sst.test.redisserver import RedisServer, Reply
from sst.test.sipp import (SippResult, freePort, killedAtCleanup, sippAvailable, startSipp,
                           waitForListening)
from sst.test.test_proxy_sipp import _describe, _received

#: Picks the node (0, 1 or 2) of a request from its Call-ID, CSeq number and method.
Policy = Callable[[str, int, str], int]

_CALL_ID = re.compile(rb"^(?:call-id|i)[ \t]*:[ \t]*(\S+)[ \t]*\r?$", re.I | re.M)
_CSEQ = re.compile(rb"^cseq[ \t]*:[ \t]*([0-9]+)[ \t]+([A-Za-z]+)[ \t]*\r?$", re.I | re.M)


@dataclass(frozen=True)
class Routed:
    """
    One request the dispatcher sent to a node.
    """

    callId: str
    cseq: int
    method: str
    node: int


class Dispatcher(DatagramProtocol):
    """
    A stateless UDP dispatcher in front of the nodes.

    @ivar nodes: the nodes' addresses.
    @ivar policy: picks the node of each request from a client.
    @ivar clients: the address that sent each Call-ID's requests.
    @ivar routed: every request sent to a node, oldest first.
    @ivar dropped: datagrams it could not place.
    """

    def __init__(self, nodes: list[tuple[str, int]], policy: Policy) -> None:
        self.nodes = nodes
        self.policy = policy
        self.clients: dict[str, tuple[str, int]] = {}
        self.routed: list[Routed] = []
        self.dropped = 0

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        """
        Send a client's request to the node the policy picks, and anything from a node to
        the client of its Call-ID.
        """
        source = (addr[0], addr[1])
        head = datagram.split(b"\r\n\r\n", 1)[0]
        callIdMatch = _CALL_ID.search(head)
        if callIdMatch is None or self.transport is None:
            self.dropped += 1
            return
        callId = callIdMatch.group(1).decode("latin-1")
        if source in self.nodes:
            client = self.clients.get(callId)
            if client is None:
                self.dropped += 1
                return
            self.transport.write(datagram, client)
            return
        cseqMatch = _CSEQ.search(head)
        if cseqMatch is None or datagram.startswith(b"SIP/2.0 "):
            self.dropped += 1  # a response from a client: its request never came this way
            return
        cseq, method = int(cseqMatch.group(1)), cseqMatch.group(2).decode("ascii").upper()
        self.clients[callId] = source
        node = self.policy(callId, cseq, method)
        self.routed.append(Routed(callId, cseq, method, node))
        self.transport.write(datagram, self.nodes[node])


_VIA = re.compile(rb"^(?:via|v)[ \t]*:[ \t]*SIP/2\.0/UDP[ \t]+([^;:,\s]+)(?::([0-9]+))?([^,\r\n]*)",
                  re.I | re.M)
_PARAM = re.compile(rb";[ \t]*(received|rport)=([^;,\s]+)", re.I)


class CalleeFront(DatagramProtocol):
    """
    What the nodes take for the callee: it passes their datagrams to the callee, and the
    callee's responses to the address of their top Via (its C{received} and C{rport} when
    there).  SIPp sends everything of a call to the address its first message came from,
    whereas a callee must answer each request by its Via (RFC 3261 section 18.2.2), which
    names the node that sent it.

    @ivar callee: the callee's address.
    @ivar dropped: datagrams it could not place.
    """

    def __init__(self, callee: tuple[str, int]) -> None:
        self.callee = callee
        self.dropped = 0

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        """
        Pass a datagram from a node to the callee, and a response from the callee to its
        top Via.
        """
        if self.transport is None:
            return
        if (addr[0], addr[1]) != self.callee:
            self.transport.write(datagram, self.callee)
            return
        via = _VIA.search(datagram.split(b"\r\n\r\n", 1)[0])
        if via is None or not datagram.startswith(b"SIP/2.0 "):
            self.dropped += 1
            return
        params: dict[bytes, bytes] = {name.lower(): value
                                      for name, value in _PARAM.findall(via.group(3))}
        host = params.get(b"received") or bytes(via.group(1))
        port = params.get(b"rport") or bytes(via.group(2) or b"5060")
        self.transport.write(datagram, (host.decode("ascii"), int(port)))


class RoundRobin:
    """
    A policy that gives each new Call-ID the next node in turn, and sends the request
    with CSeq number N of a call C{N - 1} nodes further (0 by default: all to one node).
    """

    def __init__(self, count: int, step: int = 0) -> None:
        self.count = count
        self.step = step
        self._first: dict[str, int] = {}

    def __call__(self, callId: str, cseq: int, method: str) -> int:
        base = self._first.setdefault(callId, len(self._first) % self.count)
        return (base + self.step * (cseq - 1)) % self.count


def _text(reply: Reply) -> str:
    assert isinstance(reply, bytes), reply
    return reply.decode("utf-8")


class _ClusterTestCase(TestCase):
    """
    Three nodes, a dispatcher and a Redis server of the test's own.
    """

    if not sippAvailable():
        skip = "sipp is not installed"
    elif shutil.which("redis-server") is None:
        skip = "redis-server is not installed (Debian package redis-server)"
    elif not os.path.exists(TWISTD):
        skip = "no twistd next to the Python running the tests"

    #: How many nodes.
    size = 3

    def setUp(self) -> None:
        """
        Start Redis; make a directory for the logs.
        """
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.redis = RedisServer()
        self.addCleanup(self.redis.cleanup)
        self.redis.start()
        self.clock = IReactorTime(_globalReactor)
        self.nodes: list[NodeProcess] = []
        self.httpPorts: list[int] = []
        self.calleePort = freePort("udp")

    async def startCluster(self, policy: Policy, *options: str) -> Dispatcher:
        """
        Start the dispatcher and the nodes (C{n1}, C{n2}...) with C{options}, and wait until
        each uses Redis.

        @return: the dispatcher.
        """
        sipPorts = [freePort("udp") for _ in range(self.size)]
        self.httpPorts = [freePort("tcp") for _ in range(self.size)]
        dispatcher = Dispatcher([("127.0.0.1", port) for port in sipPorts], policy)
        relay = IReactorUDP(_globalReactor).listenUDP(0, dispatcher, "127.0.0.1", 65535)
        self.addCleanup(relay.stopListening)
        self.relayPort: int = relay.getHost().port  # type: ignore[attr-defined]
        front = IReactorUDP(_globalReactor).listenUDP(
            0, CalleeFront(("127.0.0.1", self.calleePort)), "127.0.0.1", 65535)
        self.addCleanup(front.stopListening)
        frontPort: int = front.getHost().port  # type: ignore[attr-defined]
        starts = [Deferred.fromCoroutine(startNode(
            self, os.path.join(self.workdir, "n%d.log" % (n + 1,)), self.workdir,
            ["--listen", "udp:127.0.0.1:%d" % (sipPorts[n],), "--store", self.redis.url,
             "--node-id", "n%d" % (n + 1,), "--advertise", "127.0.0.1:%d" % (self.relayPort,),
             "--next-hop", "sip:127.0.0.1:%d" % (frontPort,), "--min-se", "90",
             "--http", "tcp:%d:interface=127.0.0.1" % (self.httpPorts[n],), *options],
            sipPorts[n], self.httpPorts[n])) for n in range(self.size)]
        self.nodes = list(await gatherResults(starts))
        await self.until(lambda: self.allStats(), lambda stats: all(
            s.get("redis_up") == 1 for s in stats), 15, "nodes never used Redis")
        return dispatcher

    def logs(self) -> str:
        """
        @return: the end of every node's log, for assertion messages.
        """
        return "\n".join("--- n%d ---\n%s" % (n + 1, node.log(3000))
                         for n, node in enumerate(self.nodes))

    async def stats(self, n: int) -> dict[str, Any]:
        """
        @return: node C{n}'s (0-based) C{GET /stats}.
        """
        document: dict[str, Any] = await getJSON(self.httpPorts[n], "/stats")
        return document

    async def allStats(self, among: Optional[list[int]] = None) -> list[dict[str, Any]]:
        """
        @return: the C{/stats} of every node (of C{among}), in order.
        """
        return [await self.stats(n) for n in (among if among is not None
                                              else range(self.size))]

    async def until(self, probe: Callable[[], Any], done: Callable[[Any], bool],
                    timeout: float, what: str, step: float = 0.2) -> Any:
        """
        Await C{probe()} every C{step} seconds until C{done} accepts its value, for
        C{timeout} seconds at most.

        @return: the accepted value.
        """
        deadline = self.clock.seconds() + timeout
        while True:
            value = probe()
            if isinstance(value, Deferred) or hasattr(value, "__await__"):
                value = await value
            if done(value):
                return value
            if self.clock.seconds() > deadline:
                self.fail("%s (last: %r)\n%s" % (what, value, self.logs()))
            await deferLater(self.clock, step, lambda: None)

    def sleep(self, seconds: float) -> Deferred[None]:
        """
        @return: fires after C{seconds}.
        """
        return deferLater(self.clock, max(seconds, 0), lambda: None)

    def dialogs(self) -> dict[str, dict[str, str]]:
        """
        @return: every dialog hash in Redis, by key.
        """
        keys = self.redis.query("KEYS", "sst:d:*")
        assert isinstance(keys, list)
        found = {}
        for key in keys:
            assert isinstance(key, bytes)
            flat = self.redis.query("HGETALL", key)
            assert isinstance(flat, list)
            found[key.decode("latin-1")] = {_text(flat[i]): _text(flat[i + 1])
                                            for i in range(0, len(flat) - 1, 2)}
        return found

    async def assertRedisEmpty(self) -> None:
        """
        Assert that Redis holds no dialog and no deadline (writes are not waited for:
        poll for 3 s).
        """
        await self.until(lambda: (self.dialogs(), self.redis.query("ZCARD", "sst:deadlines")),
                         lambda state: state == ({}, 0), 3, "Redis still holds dialogs")

    def sipp(self, scenario: str, target: Optional[str], port: int, *, calls: int = 1,
             rate: float = 10, extraArgs: tuple[str, ...] = (),
             keys: Mapping[str, str] = {}, timeout: float = 30) -> Deferred[SippResult]:
        """
        Start one SIPp side; it is killed at the end of the test if still running.
        """
        process, done = startSipp(
            IReactorProcess(_globalReactor), scenario, target, localPort=port, calls=calls,
            rate=rate, extraArgs=list(extraArgs), workdir=self.workdir, timeout=timeout,
            keys={"callee": "127.0.0.1:%d" % (self.calleePort,), **keys})
        return killedAtCleanup(self, process, done)

    async def call(self, caller: str, callee: str, *, calls: int = 1, rate: float = 10,
                   callerArgs: tuple[str, ...] = (), calleeKeys: Mapping[str, str] = {},
                   timeout: float = 30) -> tuple[Deferred[SippResult], Deferred[SippResult]]:
        """
        Start a callee, then a caller through the dispatcher.

        @return: the caller's and the callee's results, to come.
        """
        calleeDone = self.sipp(callee, None, self.calleePort, calls=calls, keys=calleeKeys,
                               timeout=timeout)
        await waitForListening(self.clock, self.calleePort, "udp")
        callerDone = self.sipp(caller, "127.0.0.1:%d" % (self.relayPort,), freePort("udp"),
                               calls=calls, rate=rate, extraArgs=callerArgs, timeout=timeout)
        return callerDone, calleeDone

    def assertNear(self, value: float, expected: float, delta: float, msg: str) -> None:
        """
        Assert that C{value} is within C{delta} of C{expected} (trial's
        C{assertAlmostEqual} ignores C{delta}).
        """
        if abs(value - expected) > delta:
            self.fail("%r is not within %r of %r\n%s" % (value, delta, expected, msg))

    def assertCalls(self, count: int, *results: SippResult) -> None:
        """
        Assert that each SIPp run exited 0 with C{count} successful calls.
        """
        for result in results:
            self.assertEqual((result.exitCode, result.successful, result.failed),
                             (0, count, 0), _describe(*results) + self.logs())


class ClusterCallTests(_ClusterTestCase):
    """
    Calls through the dispatcher to the three nodes.
    """

    timeout = 60

    def test_callsSpreadOverNodes(self) -> Deferred[None]:
        """
        Six calls dispatched round-robin by Call-ID complete; each node handled two, wrote
        them to Redis as their owner, and deleted them at the BYE: Redis ends empty.
        """
        return Deferred.fromCoroutine(self.callsSpreadOverNodes())

    async def callsSpreadOverNodes(self) -> None:
        dispatcher = await self.startCluster(RoundRobin(self.size))
        callerDone, calleeDone = await self.call(
            "uac_timer_restart", "uas", calls=6, rate=4, callerArgs=("-d", "1500"))
        owners: set[str] = set()
        while not (callerDone.called and calleeDone.called):
            owners.update(d.get("o", "") for d in self.dialogs().values())
            await self.sleep(0.2)
        caller, callee = await callerDone, await calleeDone
        self.assertCalls(6, caller, callee)
        why = _describe(caller, callee) + self.logs()

        nodesOfCalls: dict[str, set[int]] = {}
        for routed in dispatcher.routed:
            nodesOfCalls.setdefault(routed.callId, set()).add(routed.node)
        self.assertEqual(len(nodesOfCalls), 6, why)
        self.assertEqual(sorted(len(nodes) for nodes in nodesOfCalls.values()), [1] * 6, why)
        self.assertEqual(sorted(min(nodes) for nodes in nodesOfCalls.values()),
                         [0, 0, 1, 1, 2, 2], why)
        self.assertEqual(owners, {"n1", "n2", "n3"}, why)
        stats = await self.allStats()
        self.assertEqual([s.get("dialogs_created") for s in stats], [2, 2, 2], why)
        self.assertEqual([s.get("dialogs_terminated") for s in stats], [2, 2, 2], why)
        self.assertEqual([s.get("expired_sst", 0) for s in stats], [0, 0, 0], why)
        await self.assertRedisEmpty()

    def test_refreshThroughAnotherNode(self) -> Deferred[None]:
        """
        A call set up through n1, refreshed by re-INVITE and UPDATE through n2 and ended by
        BYE through n3: n2 loads the dialog from Redis, and each refresh moves the shared
        deadline (C{ea}) later by the time between them, the owner staying n1; n3's BYE
        deletes the dialog, and no node expires anything.
        """
        return Deferred.fromCoroutine(self.refreshThroughAnotherNode())

    async def refreshThroughAnotherNode(self) -> None:
        byNumber = {1: 0, 2: 1, 3: 1, 4: 2}
        dispatcher = await self.startCluster(lambda callId, cseq, method: byNumber[cseq])
        pause = 3.0
        callerDone, calleeDone = await self.call(
            "uac_timer_refresh", "uas_timer_refresh", callerArgs=("-d", "%d" % (pause * 1000,)))
        samples: list[tuple[float, float, str]] = []
        while not (callerDone.called and calleeDone.called):
            for hash in self.dialogs().values():
                samples.append((self.clock.seconds(), float(hash["ea"]), hash["o"]))
            await self.sleep(0.1)
        caller, callee = await callerDone, await calleeDone
        self.assertCalls(1, caller, callee)
        why = "%r\n%s%s" % (samples, _describe(caller, callee), self.logs())

        self.assertEqual([(r.cseq, r.method, r.node) for r in dispatcher.routed
                          if r.method != "ACK" or r.cseq == 1][:5],
                         [(1, "INVITE", 0), (1, "ACK", 0), (2, "INVITE", 1), (3, "UPDATE", 1),
                          (4, "BYE", 2)], why)
        self.assertEqual({owner for _, _, owner in samples}, {"n1"}, why)
        deadlines = sorted({ea for _, ea, _ in samples})
        self.assertEqual(len(deadlines), 3, why)
        first = min(at for at, ea, _ in samples if ea == deadlines[0])
        self.assertNear(deadlines[0] - first, 90, 1.0, why)
        self.assertNear(deadlines[1] - deadlines[0], pause, 0.5, why)
        self.assertNear(deadlines[2] - deadlines[1], pause, 0.5, why)
        stats = await self.allStats()
        self.assertGreaterEqual(stats[1].get("cluster_loaded", 0), 1, why)
        self.assertGreaterEqual(stats[2].get("cluster_loaded", 0), 1, why)
        self.assertEqual([s.get("expired_sst", 0) for s in stats], [0, 0, 0], why)
        await self.assertRedisEmpty()


class ClusterRedisRestartTests(_ClusterTestCase):
    """
    Redis killed and restarted, empty, while calls are up.
    """

    timeout = 90

    def test_redisRestarted(self) -> Deferred[None]:
        """
        Three calls (one per node) outlive a Redis restart: the nodes notice the outage
        (C{redis_up} 0, C{redis_errors}), write their dialogs again once Redis is back,
        and each BYE, sent through the next node, finds its dialog there and deletes it.
        """
        return Deferred.fromCoroutine(self.redisRestarted())

    async def redisRestarted(self) -> None:
        await self.startCluster(RoundRobin(self.size, step=1))
        callerDone, calleeDone = await self.call(
            "uac_timer_restart", "uas", calls=3, callerArgs=("-d", "20000"), timeout=60)
        before = await self.until(self.dialogs, lambda found: len(found) == 3, 10,
                                  "the three calls never reached Redis")
        self.assertEqual(sorted(d["o"] for d in before.values()), ["n1", "n2", "n3"])

        self.redis.stop()
        await self.until(self.allStats, lambda stats: all(
            s.get("redis_up") == 0 for s in stats), 5, "no node noticed that Redis died")
        self.redis.start()
        self.assertEqual(self.dialogs(), {})
        stats = await self.until(self.allStats, lambda stats: all(
            s.get("redis_up") == 1 for s in stats), 15, "the nodes never came back to Redis")
        after = await self.until(self.dialogs, lambda found: len(found) == 3, 5,
                                 "the dialogs were not written again")
        self.assertEqual(sorted(after), sorted(before))
        self.assertEqual({k: (d["o"], d["ea"]) for k, d in after.items()},
                         {k: (d["o"], d["ea"]) for k, d in before.items()})
        self.assertFalse(callerDone.called or calleeDone.called,
                         "the calls ended before Redis was back: make the pause longer")

        caller, callee = await callerDone, await calleeDone
        self.assertCalls(3, caller, callee)
        why = _describe(caller, callee) + self.logs()
        stats = await self.allStats()
        self.assertEqual([s.get("redis_up") for s in stats], [1, 1, 1], why)
        self.assertEqual([s.get("redis_errors", 0) > 0 for s in stats], [True] * 3,
                         "%r\n%s" % (stats, why))
        self.assertEqual([s.get("cluster_loaded", 0) for s in stats], [1, 1, 1], why)
        self.assertEqual([s.get("expired_sst", 0) for s in stats], [0, 0, 0], why)
        await self.assertRedisEmpty()


class ClusterKillTests(_ClusterTestCase):
    """
    The node that owns a call killed with C{SIGKILL}: a survivor ends the call at its
    deadline, exactly once.
    """

    timeout = 180

    #: Seconds between the confirmation of the call and the kill.
    killAfter = 2.0

    async def killOwner(self, caller: str, callee: str, *options: str,
                        calleeKeys: Mapping[str, str] = {}
                        ) -> tuple[float, dict[str, float], SippResult, SippResult, str]:
        """
        Set up a call through n1, kill n1, and watch the survivors until the call ends.

        @return: the deadline of the caller's dialog in Redis, when each survivor counted
            C{expired_sst}, the caller's and the callee's results, and the caller's Call-ID.
        """
        dispatcher = await self.startCluster(lambda callId, cseq, method: 0, *options)
        callerDone, calleeDone = await self.call(caller, callee, calleeKeys=calleeKeys,
                                                 timeout=130)
        await self.until(lambda: dispatcher.clients, bool, 10, "the caller sent nothing")
        [callId] = dispatcher.clients

        def mine() -> list[dict[str, str]]:
            return [d for d in self.dialogs().values() if d["c"] == callId]

        [saved] = await self.until(mine, lambda found: len(found) == 1 and found[0]["s"] == "confirmed",
                                   10, "the call never reached Redis")
        self.assertEqual(saved["o"], "n1")
        deadline = float(saved["ea"])
        await self.sleep(self.killAfter)
        owner = self.nodes[0]
        owner.signal("KILL")
        reason = await owner.ended
        self.assertIsInstance(reason, ProcessTerminated)

        survivors = [1, 2]
        await self.sleep(deadline - 5 - self.clock.seconds())
        early = await self.allStats(survivors)
        self.assertEqual([s.get("expired_sst", 0) for s in early], [0, 0], self.logs())
        expiredAt: dict[str, float] = {}
        while self.clock.seconds() < deadline + 10 and not (callerDone.called and calleeDone.called
                                                   and expiredAt):
            for n, stats in zip(survivors, await self.allStats(survivors)):
                if stats.get("expired_sst", 0) and "n%d" % (n + 1,) not in expiredAt:
                    expiredAt["n%d" % (n + 1,)] = self.clock.seconds()
            await self.sleep(0.1)
        return deadline, expiredAt, await callerDone, await calleeDone, callId

    def assertByeAt(self, result: SippResult, deadline: float, why: str) -> None:
        """
        Assert that C{result} received one BYE, for an expired session timer, within a
        second of C{deadline}.
        """
        byes = _received(result, "BYE")
        self.assertEqual(len(byes), 1, why)
        self.assertEqual(byes[0].headers("reason"), [EXPIRY_REASON], why)
        self.assertNear(byes[0].at, deadline, 1.0, why)

    def test_proxyOwnerKilled(self) -> Deferred[None]:
        """
        Proxy mode with C{--bye-on-expiry}: n1, which set up a call with Session-Expires
        90, is killed two seconds later; one survivor, and only one, claims the dialog and
        expires it at its saved deadline, sending BYE to both parties; Redis ends empty.
        Takes about 95 s.
        """
        return Deferred.fromCoroutine(self.proxyOwnerKilled())

    async def proxyOwnerKilled(self) -> None:
        deadline, expiredAt, caller, callee, _ = await self.killOwner(
            "uac_timer_expiry", "uas_timer_expiry", "--bye-on-expiry")
        why = "deadline %r, expired %r\n%s%s" % (deadline, expiredAt, _describe(caller, callee),
                                                 self.logs())
        self.assertCalls(1, caller, callee)
        self.assertEqual(len(expiredAt), 1, why)
        [(survivor, at)] = expiredAt.items()
        self.assertNear(at, deadline, 1.0, why)
        self.assertByeAt(caller, deadline, why)
        self.assertByeAt(callee, deadline, why)
        stats = await self.allStats([1, 2])
        self.assertEqual(sum(s.get("expired_sst", 0) for s in stats), 1, why)
        self.assertEqual(sum(s.get("expiry_byes", 0) for s in stats), 2, why)
        self.assertEqual(sum(s.get("cluster_claimed", 0) for s in stats), 1, why)
        self.assertIn("Took over dialog", self.nodes[int(survivor[1:]) - 1].log(), why)
        await self.assertRedisEmpty()

    def test_b2buaOwnerKilled(self) -> Deferred[None]:
        """
        B2BUA mode: n1, which set up a call whose caller takes the refresher role with
        Session-Expires 90 and never refreshes, is killed two seconds later; one survivor
        ends the call at the A-leg's deadline (60 s after the 200) with a BYE on each leg,
        exactly once; Redis ends empty.  Takes about 65 s.
        """
        return Deferred.fromCoroutine(self.b2buaOwnerKilled())

    async def b2buaOwnerKilled(self) -> None:
        deadline, expiredAt, caller, callee, _ = await self.killOwner(
            "b2bua_uac_norefresh", "b2bua_uas", "--mode", "b2bua", "--session-expires", "90",
            "--b-session-expires", "1800", calleeKeys={"se": "1800"})
        why = "deadline %r, expired %r\n%s%s" % (deadline, expiredAt, _describe(caller, callee),
                                                 self.logs())
        self.assertCalls(1, caller, callee)
        self.assertEqual(len(expiredAt), 1, why)
        [at] = expiredAt.values()
        self.assertNear(at, deadline, 1.0, why)
        self.assertByeAt(caller, deadline, why)
        self.assertByeAt(callee, deadline, why)
        stats = await self.allStats([1, 2])
        self.assertEqual(sum(s.get("expired_sst", 0) for s in stats), 1, why)
        await self.assertRedisEmpty()
