# -*- test-case-name: sst.test.test_workers -*-
"""
Tests for C{--workers}: the option, the spec a worker is started with, and a real
C{twistd sst --workers 2} between SIPp callers and callees: calls complete whichever worker
receives their messages, each call is handled by one worker, the management API adds the
workers up, and a worker killed mid-call comes back with its dialog.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Optional

from twisted.internet import reactor as _globalReactor
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorProcess, IReactorTime
from twisted.internet.task import deferLater
from twisted.python import usage
from twisted.trial.unittest import TestCase

from sst.address import Address
from sst.ownership import ownerOf
from sst.tap import Options
from sst.test.sipp import (SippResult, freePort, killedAtCleanup, sippAvailable, sippExitOK,
                           startSipp, waitForListening)
from sst.test.nodeprocess import TWISTD, NodeProcess
from sst.workerspec import WorkerSpec


class WorkersOptionTests(TestCase):
    """
    C{--workers}.
    """

    def parse(self, *args: str) -> Options:
        options = Options()
        options.parseOptions(list(args))
        return options

    def test_default(self) -> None:
        self.assertEqual(self.parse()["workers"], 1)

    def test_number(self) -> None:
        options = self.parse("--workers", "3", "--min-se", "90")
        self.assertEqual(options["workers"], 3)
        self.assertEqual(options.argv, ["--workers", "3", "--min-se", "90"])

    def test_auto(self) -> None:
        self.assertEqual(self.parse("--workers", "auto")["workers"], len(os.sched_getaffinity(0)))

    def test_bad(self) -> None:
        for value in ("0", "-1", "x", "65"):
            self.assertRaises(usage.UsageError, self.parse, "--workers", value)


class WorkerArgvTests(TestCase):
    """
    What the workers are told to parse.
    """

    def pool(self, *args: str) -> Any:
        from sst.workers import WorkerPool

        options = Options()
        options.parseOptions(list(args))
        pool = WorkerPool(options, None, 2)
        self.addCleanup(pool._closeSockets)
        return pool

    def test_sharedNonceKey(self) -> None:
        """
        With authentication on and no C{--auth-nonce-key}, the workers get one key file the
        parent made (so that a nonce from one worker is good at the other), readable by its
        owner only.
        """
        from sst.auth.checkers import formatEntry
        from sst.auth.passwd import entryFor

        users = self.mktemp()
        with open(users, "w") as f:
            f.write(formatEntry(entryFor("alice@example.com", None, "pw")) + "\n")
        pool = self.pool("--auth-file", users, "--state", "none")
        argv = pool._workerArgv()
        self.assertEqual(argv[:4], ["--auth-file", users, "--state", "none"])
        self.assertEqual(argv[4], "--auth-nonce-key")
        self.assertEqual(os.stat(argv[5]).st_mode & 0o777, 0o600)
        with open(argv[5], "rb") as f:
            self.assertEqual(len(f.read()), 32)
        worker = Options()
        worker.parseOptions(argv)
        self.assertIsNotNone(worker["auth"])

    def test_givenKeyOrNoAuth(self) -> None:
        """
        Without authentication, or with a key given, the options pass unchanged.
        """
        self.assertEqual(self.pool("--state", "none")._workerArgv(), ["--state", "none"])


class WorkerSpecTests(TestCase):
    """
    L{WorkerSpec} goes to the worker as JSON.
    """

    def test_roundTrip(self) -> None:
        spec = WorkerSpec(1, 2, ["--min-se", "90"], [(Address("udp", "::1", 5060), 7)], 9,
                          [10, 11], "/tmp/x.sock")
        self.assertEqual(WorkerSpec.fromJSON(spec.toJSON()), spec)
        self.assertEqual(spec.descriptors(), [7, 9, 10, 11])

    def test_bad(self) -> None:
        self.assertRaises(ValueError, WorkerSpec.fromJSON, "{}")
        self.assertRaises(ValueError, WorkerSpec.fromJSON, "[")


class LineObserverTests(TestCase):
    """
    A worker logs one line per event, for the parent to relay.
    """

    def test_lines(self) -> None:
        import io

        from twisted.logger import Logger

        from sst.worker import lineObserver

        stream = io.StringIO()
        log = Logger(namespace="sst.x", observer=lineObserver(stream))
        log.info("hello {who}", who="there")
        log.debug("not shown")
        try:
            1 / 0
        except ZeroDivisionError:
            log.failure("broken")
        lines = stream.getvalue().splitlines()
        self.assertEqual(lines[0], "info sst.x: hello there")
        self.assertEqual(lines[1], "critical sst.x: broken")
        self.assertIn("ZeroDivisionError", lines[-1])
        self.assertTrue(all(line.startswith("critical sst.x: ") for line in lines[1:]))


def _children(pid: int) -> dict[int, int]:
    """
    @return: the worker processes of the parent C{pid}, by worker index.
    """
    workers: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % (name,)) as f:
                stat = f.read()
            with open("/proc/%s/cmdline" % (name,), "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        if parent != pid or b"sst.worker" not in argv:
            continue
        workers[WorkerSpec.fromJSON(argv[argv.index(b"sst.worker") + 1].decode()).index] = \
            int(name)
    return workers


class WorkersSippTests(TestCase):
    """
    C{twistd sst --workers 2} with SIPp, over UDP.
    """

    transport = "udp"
    mode = "proxy"
    timeout = 60

    if not sippAvailable():
        skip = "sipp is not installed"
    elif not os.path.exists(TWISTD):
        skip = "no twistd next to %s" % (sys.executable,)

    def setUp(self) -> None:
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.state = os.path.join(self.workdir, "state.sqlite")
        self.proxyPort = freePort(self.transport)
        self.calleePort = freePort(self.transport)
        self.httpPort = freePort("tcp")
        self.clock = IReactorTime(_globalReactor)

    async def startProxy(self) -> NodeProcess:
        """
        Start C{twistd -n sst --workers 2}; stopped at the end of the test.
        """
        proxy = NodeProcess(os.path.join(self.workdir, "proxy.log"))
        args = [TWISTD, "-n", "--pidfile=", "--logfile=" + proxy.logfile, "sst",
                "--workers", "2", "--mode", self.mode,
                "--listen", "%s:127.0.0.1:%d" % (self.transport, self.proxyPort),
                "--next-hop", "sip:127.0.0.1:%d%s" % (
                    self.calleePort, ";transport=tcp" if self.transport == "tcp" else ""),
                "--min-se", "90", "--state", self.state,
                "--http", "tcp:%d:interface=127.0.0.1" % (self.httpPort,)]
        proxy.process = IReactorProcess(_globalReactor).spawnProcess(
            proxy, TWISTD, args, env=dict(os.environ), path=self.workdir)
        self.addCleanup(lambda: Deferred.fromCoroutine(self.stopProxy(proxy)))
        try:
            await waitForListening(self.clock, self.proxyPort, self.transport, timeout=10)
            await waitForListening(self.clock, self.httpPort, "tcp", timeout=10)
            await self.waitFor(lambda stats: stats.get("workers_up") == 2)
        except (TimeoutError, AssertionError):
            self.fail("proxy never started:\n" + proxy.log())
        return proxy

    async def stopProxy(self, proxy: NodeProcess) -> None:
        if proxy.ended.called:
            return
        proxy.signal("TERM")
        killer = self.clock.callLater(15, proxy.signal, "KILL")
        try:
            await proxy.ended
        finally:
            if killer.active():
                killer.cancel()

    def sipp(self, scenario: str, target: Optional[str], port: int, calls: int = 1,
             rate: float = 10, extraArgs: list[str] = [],
             keys: dict[str, str] = {}) -> Deferred[SippResult]:
        process, done = startSipp(
            IReactorProcess(_globalReactor), scenario, target, localPort=port,
            transport=self.transport, calls=calls, rate=rate, extraArgs=extraArgs,
            keys=dict(keys, callee="127.0.0.1:%d" % (self.calleePort,)), timeout=40,
            workdir=self.workdir)
        return killedAtCleanup(self, process, done)

    async def get(self, path: str) -> Any:
        import treq

        reactor: Any = _globalReactor
        response = await treq.get("http://127.0.0.1:%d%s" % (self.httpPort, path),
                                  reactor=reactor, persistent=False)
        return await response.json()

    async def waitFor(self, condition: Any, path: str = "/stats", tries: int = 100) -> Any:
        """
        Poll C{path} every 0.1 s until C{condition} holds for its document.
        """
        document = None
        for _ in range(tries):
            try:
                document = await self.get(path)
            except Exception:
                document = None
            if document is not None and condition(document):
                return document
            await deferLater(self.clock, 0.1, lambda: None)
        raise AssertionError("never: %r" % (document,))

    async def waitForOneRestart(self, proxy: NodeProcess) -> None:
        """
        Wait until the parent has started a worker again exactly once and both are up; fail
        with the proxy's log otherwise (a worker that died again says why there).
        """
        try:
            await self.waitFor(lambda s: s["worker_restarts"] == 1 and s["workers_up"] == 2)
        except AssertionError as e:
            self.fail("%s\n%s" % (e, proxy.log()))

    def test_callsComplete(self) -> Deferred[None]:
        """
        Calls with re-INVITE and UPDATE refreshes complete through two workers, whichever
        one receives each message: every message of a call is handled by the worker that
        owns it (each worker handled six requests for each call it created), the hand-offs
        add up, and C{/stats} adds the workers up.
        """
        return Deferred.fromCoroutine(self.callsComplete())

    async def callsComplete(self) -> None:
        calls = 30
        proxy = await self.startProxy()
        callee = self.sipp("uas_timer_refresh", None, self.calleePort, calls=calls)
        await waitForListening(self.clock, self.calleePort, self.transport)
        caller = await self.sipp("uac_timer_refresh", "127.0.0.1:%d" % (self.proxyPort,),
                                 freePort(self.transport), calls=calls, rate=30,
                                 extraArgs=["-d", "100"])
        await callee
        self.assertTrue(sippExitOK(caller), caller.summary() + proxy.log())
        stats = await self.waitFor(lambda s: s["requests_in"] >= 6 * calls)
        self.assertEqual((stats["workers"], stats["workers_up"]), (2, 2))
        self.assertEqual(stats["requests_in"], 6 * calls)
        self.assertEqual(stats["dialogs_created"], calls)
        self.assertEqual(stats["handoffs_in"], stats["handoffs_out"])
        self.assertGreater(stats["handoffs_in"], 0)
        self.assertEqual(stats["handoff_dropped"], 0)
        perWorker = []
        for index in range(2):
            perWorker.append(await self.workerStats(proxy, index))
        for worker in perWorker:
            self.assertEqual(worker["requests_in"], 6 * worker["dialogs_created"], perWorker)
        self.assertTrue(all(w["dialogs_created"] > 0 for w in perWorker), perWorker)

    async def workerStats(self, proxy: NodeProcess, index: int) -> Any:
        """
        @return: one worker's own C{/stats}, from its management socket.
        """
        assert proxy.process is not None
        pids = _children(proxy.process.pid)
        with open("/proc/%d/cmdline" % (pids[index],), "rb") as f:
            argv = f.read().split(b"\0")
        spec = WorkerSpec.fromJSON(argv[argv.index(b"sst.worker") + 1].decode())
        import treq
        from twisted.internet.endpoints import UNIXClientEndpoint
        from twisted.web.client import Agent

        reactor: Any = _globalReactor
        agent = Agent.usingEndpointFactory(
            reactor, _UnixEndpoints(reactor, spec.management))
        response = await treq.request("GET", "http://worker/stats", agent=agent)
        return await response.json()

    def test_killedWorker(self) -> Deferred[None]:
        """
        A worker killed with C{SIGKILL} right after it confirmed a timed call is started
        again on the same sockets, with the call's dialog and deadline (the state file is
        written at the end of the reactor turn that confirmed it), and the caller's BYE,
        sent meanwhile, ends the call through it.
        """
        return Deferred.fromCoroutine(self.killedWorker())

    async def killedWorker(self) -> None:
        proxy = await self.startProxy()
        callee = self.sipp("uas", None, self.calleePort)
        await waitForListening(self.clock, self.calleePort, self.transport)
        caller = self.sipp("uac_timer_restart", "127.0.0.1:%d" % (self.proxyPort,),
                           freePort(self.transport), extraArgs=["-d", "3000"])
        listed = await self.waitFor(lambda ds: ds and ds[0]["state"] == "confirmed", "/dialogs")
        dialog = listed[0]
        owner = ownerOf(dialog["call_id"].encode("latin-1"), 2)
        assert proxy.process is not None
        before = _children(proxy.process.pid)
        os.kill(before[owner], 9)
        await self.waitForOneRestart(proxy)
        after = _children(proxy.process.pid)
        self.assertNotEqual(after[owner], before[owner])
        self.assertEqual(after[1 - owner], before[1 - owner])
        restored = await self.get("/dialogs")
        self.assertEqual([(d["call_id"], d["state"], d["interval"]) for d in restored],
                         [(dialog["call_id"], "confirmed", 90)], proxy.log())
        self.assertLessEqual(abs(restored[0]["expires_at"] - dialog["expires_at"]), 0.01)
        callerResult = await caller
        await callee
        self.assertTrue(sippExitOK(callerResult), callerResult.summary() + proxy.log())
        await self.waitFor(lambda ds: ds == [], "/dialogs")


class _UnixEndpoints:
    """
    Connects every request of an agent to one unix socket.
    """

    def __init__(self, reactor: Any, path: str) -> None:
        self.reactor = reactor
        self.path = path

    def endpointForURI(self, uri: Any) -> Any:
        from twisted.internet.endpoints import UNIXClientEndpoint

        return UNIXClientEndpoint(self.reactor, self.path)


class WorkersSippTCPTests(WorkersSippTests):
    """
    The same over TCP: messages on a connection one worker accepted are handled by their
    owner, and what goes back to the peer goes out on that connection.
    """

    transport = "tcp"

    def test_killedWorker(self) -> Deferred[None]:
        return super().test_killedWorker()

    test_killedWorker.skip = (  # type: ignore[attr-defined]
        "over TCP the killed worker may hold the caller's connection, which dies with it; "
        "SIPp does not reconnect")


class WorkersB2BUASippTests(WorkersSippTests):
    """
    C{--mode b2bua --workers 2}: each call's two legs belong to the worker that owns the
    caller's Call-ID, since the B-leg Call-ID it makes hashes to it.
    """

    mode = "b2bua"

    def test_callsComplete(self) -> Deferred[None]:
        """
        B2BUA calls complete through two workers; each worker made the two legs of each call
        it owns and handled the three requests of each (the caller's INVITE, ACK and BYE;
        the callee sends only responses).
        """
        return Deferred.fromCoroutine(self.b2buaCallsComplete())

    async def b2buaCallsComplete(self) -> None:
        calls = 20
        proxy = await self.startProxy()
        callee = self.sipp("b2bua_uas", None, self.calleePort, calls=calls,
                           keys={"se": "1800"})
        await waitForListening(self.clock, self.calleePort, self.transport)
        caller = await self.sipp("b2bua_uac", "127.0.0.1:%d" % (self.proxyPort,),
                                 freePort(self.transport), calls=calls, rate=20,
                                 keys={"se": "1800"})
        await callee
        self.assertTrue(sippExitOK(caller), caller.summary() + proxy.log())
        stats = await self.waitFor(lambda s: s["dialogs_terminated"] >= 2 * calls)
        self.assertEqual(stats["workers_up"], 2)
        self.assertEqual(stats["dialogs_created"], 2 * calls)
        self.assertEqual(stats["handoff_dropped"], 0)
        perWorker = [await self.workerStats(proxy, index) for index in range(2)]
        for worker in perWorker:
            self.assertEqual(worker["requests_in"], 3 * worker["dialogs_created"] // 2,
                             perWorker)
        self.assertTrue(all(w["dialogs_created"] > 0 for w in perWorker), perWorker)

    def test_killedWorker(self) -> Deferred[None]:
        """
        A worker killed with C{SIGKILL} right after both legs of a timed call were confirmed
        is started again with the call: both legs' entries and deadlines come back from the
        state file, and the caller's BYE, sent meanwhile, is answered by the new worker,
        which ends the B-leg with BYE to the callee.
        """
        return Deferred.fromCoroutine(self.b2buaKilledWorker())

    async def b2buaKilledWorker(self) -> None:
        proxy = await self.startProxy()
        callee = self.sipp("uas", None, self.calleePort)
        await waitForListening(self.clock, self.calleePort, self.transport)
        caller = self.sipp("uac_timer_restart", "127.0.0.1:%d" % (self.proxyPort,),
                           freePort(self.transport), extraArgs=["-d", "3000"])
        listed = await self.waitFor(
            lambda ds: len(ds) == 2 and all(d["state"] == "confirmed" for d in ds), "/dialogs")
        legs = sorted((d["extra"]["leg"], d["call_id"], d["expires_at"]) for d in listed)
        owner = ownerOf(legs[0][1].encode("latin-1"), 2)
        self.assertEqual(ownerOf(legs[1][1].encode("latin-1"), 2), owner)
        assert proxy.process is not None
        before = _children(proxy.process.pid)
        os.kill(before[owner], 9)
        await self.waitForOneRestart(proxy)
        restored = await self.get("/dialogs")
        self.assertEqual(sorted((d["extra"]["leg"], d["call_id"], d["expires_at"])
                                for d in restored), legs, proxy.log())
        callerResult = await caller
        calleeResult = await callee
        why = callerResult.summary() + calleeResult.summary() + proxy.log()
        self.assertTrue(sippExitOK(callerResult), why)
        self.assertTrue(sippExitOK(calleeResult), why)
        await self.waitFor(lambda ds: ds == [], "/dialogs")


class SupervisionTests(TestCase):
    """
    L{WorkerPool} starts a dead worker again, waiting longer each time it dies young; a
    worker stops when its parent is gone.
    """

    def test_restartBackoff(self) -> None:
        from twisted.internet.task import Clock
        from twisted.python.failure import Failure

        from sst.workers import FIRST_RESTART_DELAY, MAX_RESTART_DELAY, STABLE_AFTER, WorkerPool
        from sst.workers import _WorkerProcess

        clock = Clock()
        options = Options()
        options.parseOptions(["--state", "none"])
        pool = WorkerPool(options, clock, 2)
        self.addCleanup(pool._closeSockets)
        pool.running = True
        started: list[int] = []
        pool._start = started.append  # type: ignore[method-assign, assignment]
        delays = []
        for _ in range(7):
            process = _WorkerProcess(pool, 1)
            pool._processes[1] = process
            pool._startedAt[1] = clock.seconds()
            clock.advance(1)
            pool._workerEnded(process, Failure(RuntimeError("killed")))
            [call] = clock.getDelayedCalls()
            delays.append(round(call.getTime() - clock.seconds(), 9))
            clock.advance(call.getTime() - clock.seconds())
        self.assertEqual(delays, [FIRST_RESTART_DELAY * 2 ** n for n in range(5)]
                         + [MAX_RESTART_DELAY] * 2)
        self.assertEqual((started, pool.restarts), ([1] * 7, 7))
        # One that ran long enough starts again at once.
        process = _WorkerProcess(pool, 1)
        pool._startedAt[1] = clock.seconds()
        clock.advance(STABLE_AFTER)
        pool._workerEnded(process, Failure(RuntimeError("killed")))
        [call] = clock.getDelayedCalls()
        self.assertAlmostEqual(call.getTime() - clock.seconds(), FIRST_RESTART_DELAY)

    def test_notRestartedWhenStopping(self) -> None:
        from twisted.internet.task import Clock
        from twisted.python.failure import Failure

        from sst.workers import WorkerPool, _WorkerProcess

        clock = Clock()
        options = Options()
        options.parseOptions(["--state", "none"])
        pool = WorkerPool(options, clock, 2)
        self.addCleanup(pool._closeSockets)
        pool._workerEnded(_WorkerProcess(pool, 0), Failure(RuntimeError("stopped")))
        self.assertEqual((clock.getDelayedCalls(), pool.restarts), ([], 0))

    def test_parentGone(self) -> None:
        """
        A worker stops its reactor once its parent process is gone.
        """
        from twisted.internet.task import Clock

        from sst.worker import _watchParent

        class Reactor(Clock):
            stopped = 0

            def stop(self) -> None:
                self.stopped += 1

        reactor = Reactor()
        loop = _watchParent(reactor, os.getppid())
        reactor.advance(3)
        self.assertEqual(reactor.stopped, 0)
        loop.stop()
        loop = _watchParent(reactor, -1)
        reactor.advance(1)
        loop.stop()
        self.assertEqual(reactor.stopped, 1)
