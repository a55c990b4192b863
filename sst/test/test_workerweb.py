# -*- test-case-name: sst.test.test_workerweb -*-
"""
Tests for L{sst.workerweb}: real worker APIs (L{sst.web.makeResource}) on
unix sockets, and the aggregate over them on a loopback TCP port.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, Callable, Generator, Optional

import treq
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, inlineCallbacks, succeed
from twisted.internet.interfaces import IListeningPort
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.http_headers import Headers
from twisted.web.iweb import IResponse
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from sst.dialogs import Dialog, DialogId, DialogObserverBase, DialogTable
from sst.ownership import ownerOf
from sst.stats import Stats
from sst.web import MAX_LIMIT, encodeDialogId, makeResource
from sst.workerweb import makeAggregateResource, mergeStats, takesMaximum

TOKEN = b"s3cret-token"
BEARER = {"Authorization": "Bearer " + TOKEN.decode()}

_Yield = Generator[Deferred[Any], Any, None]


def callIdOwnedBy(worker: int, workers: int, start: int = 0) -> str:
    """
    @return: the first Call-ID C{call-<n>@example.com}, from C{n = start},
        that worker C{worker} of C{workers} owns.
    """
    n = start
    while ownerOf(b"call-%d@example.com" % (n,), workers) != worker:
        n += 1
    return f"call-{n}@example.com"


class TerminationRecorder(DialogObserverBase):
    """
    Records the id and reason of every terminated dialog.
    """

    def __init__(self) -> None:
        self.terminated: list[tuple[DialogId, str]] = []

    def dialogTerminated(self, dialog: Dialog, reason: str) -> None:
        self.terminated.append((dialog.id, reason))


class ClockedReactor:
    """
    The global reactor for sockets, with a L{Clock} for time: the
    aggregate's timeouts fire only when a test advances the clock.
    """

    def __init__(self, reactor: Any, clock: Clock) -> None:
        self._reactor = reactor
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)

    def callLater(self, delay: float, f: Callable[..., object], *a: object, **kw: object) -> Any:
        return self._clock.callLater(delay, f, *a, **kw)

    def seconds(self) -> float:
        return self._clock.seconds()


class Hanging(Resource):
    """
    A worker API that never answers.

    @ivar arrivals: fired with the next request, each in turn.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[Deferred[Request]] = []

    def nextRequest(self) -> Deferred[Request]:
        """
        @return: a L{Deferred} that fires with the next request.
        """
        arrival: Deferred[Request] = Deferred()
        self.arrivals.append(arrival)
        return arrival

    def render(self, request: Request) -> int:
        self.arrivals.pop(0).callback(request)
        return NOT_DONE_YET


class Worker:
    """
    A worker's API: the real resource over real L{Stats} and L{DialogTable}.
    """

    def __init__(
        self,
        reactor: Any,
        path: str,
        clock: Clock,
        enabled: bool = True,
        extra: Optional[Callable[[], dict[str, object]]] = None,
    ) -> None:
        self.path = path
        self.stats = Stats(enabled)
        self.dialogs = DialogTable(clock)
        self.recorder = TerminationRecorder()
        self.dialogs.addObserver(self.recorder)
        self.resource = makeResource(self.stats, self.dialogs, clock, TOKEN, extra)
        self.port: Optional[IListeningPort] = reactor.listenUNIX(path, Site(self.resource))

    def stop(self) -> Deferred[None]:
        """
        Stop listening, as a worker that died.

        @return: a L{Deferred} that fires once the socket is gone.
        """
        port, self.port = self.port, None
        if port is None:
            return succeed(None)
        stopped = port.stopListening()
        return stopped if isinstance(stopped, Deferred) else succeed(None)


class AggregateTestCase(TestCase):
    """
    Three workers, and the aggregate of their APIs on a loopback port.
    """

    workers = 3
    timeout = 10

    def setUp(self) -> None:
        from twisted.internet import reactor as globalReactor

        self.reactor: Any = globalReactor
        self.directory = tempfile.mkdtemp(prefix="sst-workerweb-")
        self.addCleanup(shutil.rmtree, self.directory)
        self.clock = Clock()
        self.clock.advance(1000)
        self.timeouts = Clock()
        self.addCleanup(lambda: self.assertEqual(self.timeouts.getDelayedCalls(), []))
        self.sockets = [self.socket(k) for k in range(self.workers)]
        self.running = [Worker(self.reactor, path, self.clock) for path in self.sockets]
        for worker in self.running:
            self.addCleanup(worker.stop)
        self.serve()

    def socket(self, index: int) -> str:
        """
        @return: the socket path of worker C{index}.
        """
        return os.path.join(self.directory, f"worker-{index}.sock")

    @inlineCallbacks
    def replace(self, index: int, **kwargs: Any) -> Generator[Deferred[Any], Any, Worker]:
        """
        Replace worker C{index} by one made with C{kwargs}.
        """
        yield self.running[index].stop()
        worker = Worker(self.reactor, self.sockets[index], self.clock, **kwargs)
        self.addCleanup(worker.stop)
        self.running[index] = worker
        return worker

    @inlineCallbacks
    def hang(self, index: int) -> Generator[Deferred[Any], Any, Hanging]:
        """
        Replace worker C{index} by one that never answers.
        """
        yield self.running[index].stop()
        hanging = Hanging()
        port = self.reactor.listenUNIX(self.sockets[index], Site(hanging))
        self.addCleanup(port.stopListening)
        return hanging

    def serve(self, token: Optional[bytes] = TOKEN,
              extra: Optional[Callable[[], dict[str, int]]] = None) -> None:
        """
        Serve a new aggregate, with C{token} (and the parent's C{extra}), from now on.
        """
        resource = makeAggregateResource(
            self.sockets, ClockedReactor(self.reactor, self.timeouts), token, timeout=2.0,
            extra=extra
        )
        port = self.reactor.listenTCP(0, Site(resource), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        address = port.getHost()
        assert isinstance(address, IPv4Address)
        self.base = f"http://127.0.0.1:{address.port}"

    def start(
        self, method: str, path: str, headers: Optional[dict[str, str]] = None
    ) -> Deferred[IResponse]:
        """
        Start a request to the aggregate.
        """
        started: Deferred[Any] = treq.request(
            method,
            self.base + path,
            headers=Headers({name: [value] for name, value in (headers or {}).items()}),
            reactor=self.reactor,
            persistent=False,
        )
        return started

    @inlineCallbacks
    def request(
        self, method: str, path: str, headers: Optional[dict[str, str]] = None
    ) -> Generator[Deferred[Any], Any, tuple[IResponse, bytes]]:
        """
        Make a request to the aggregate and read the whole answer.
        """
        response = yield self.start(method, path, headers)
        body = yield treq.content(response)
        return response, body

    @inlineCallbacks
    def requestJSON(
        self, method: str, path: str, code: int = 200, headers: Optional[dict[str, str]] = None
    ) -> Generator[Deferred[Any], Any, Any]:
        """
        Make a request, check its status and JSON content type, and decode it.
        """
        response, body = yield self.request(method, path, headers)
        self.assertEqual(response.code, code, body)
        self.assertEqual(response.headers.getRawHeaders(b"content-type"), [b"application/json"])
        return json.loads(body)

    @inlineCallbacks
    def scrape(self) -> Generator[Deferred[Any], Any, dict[str, float]]:
        """
        Fetch C{/metrics}, check its content type, and parse it.

        @return: the value of each unlabelled sample, by name.
        """
        response, body = yield self.request("GET", "/metrics")
        self.assertEqual(response.code, 200, body)
        self.assertEqual(
            response.headers.getRawHeaders(b"content-type"), [CONTENT_TYPE_LATEST.encode()]
        )
        families: list[Metric] = list(text_string_to_metric_families(body.decode("utf-8")))
        return {sample.name: sample.value for family in families for sample in family.samples}

    def place(self, worker: int, callId: str, at: Optional[float] = None) -> DialogId:
        """
        Put a dialog into worker C{worker}'s table, created at clock time
        C{at}.
        """
        if at is not None:
            self.clock.advance(at - self.clock.seconds())
        dialogId = DialogId(callId, "from", "to")
        self.running[worker].dialogs.create(dialogId, lifetime=3600)
        return dialogId

    def endDialogs(self) -> None:
        """
        End every worker's dialogs, freeing their timers.
        """
        for worker in self.running:
            for dialog in list(worker.dialogs):
                worker.dialogs.terminate(dialog.id)


class StatsTests(AggregateTestCase):
    """
    Tests for C{GET /stats}.
    """

    @inlineCallbacks
    def test_sums(self) -> _Yield:
        """
        Counters and gauges are the sums of the workers', with C{workers}
        and C{workers_up}.
        """
        for k, worker in enumerate(self.running):
            worker.stats.increment("requests_in", k + 1)
        self.place(2, "a@example.com")
        self.place(2, "b@example.com")
        self.place(0, "c@example.com")
        document = yield self.requestJSON("GET", "/stats")
        self.assertEqual(document["requests_in"], 6)
        self.assertEqual(document["responses_in"], 0)
        self.assertEqual(document["active_dialogs"], 3)
        self.assertEqual(document["enabled"], True)
        self.assertEqual((document["workers"], document["workers_up"]), (3, 3))
        self.endDialogs()

    @inlineCallbacks
    def test_maximum(self) -> _Yield:
        """
        The longest and last pauses take the largest of the workers' values;
        other values are summed.
        """
        for k, pause in enumerate([5.0, 12.5, 7.0]):
            values = {
                "gc_pause_max_ms": pause,
                "gc_gen2_pause_last_ms": 10.0 - pause,
                "gc_pause_total_ms": pause,
                "registrations": k,
            }
            yield self.replace(k, extra=lambda values=values: values)
        document = yield self.requestJSON("GET", "/stats")
        self.assertEqual(document["gc_pause_max_ms"], 12.5)
        self.assertEqual(document["gc_gen2_pause_last_ms"], 5.0)
        self.assertEqual(document["gc_pause_total_ms"], 24.5)
        self.assertEqual(document["registrations"], 3)

    @inlineCallbacks
    def test_enabled(self) -> _Yield:
        """
        C{enabled} is true only if every worker counts.
        """
        yield self.replace(1, enabled=False)
        document = yield self.requestJSON("GET", "/stats")
        self.assertIs(document["enabled"], False)

    @inlineCallbacks
    def test_parentFigures(self) -> _Yield:
        """
        The parent's own figures (C{extra}) are added to C{/stats} and C{/metrics} as they
        are, read at each request.
        """
        restarts = [0]
        self.serve(extra=lambda: {"worker_restarts": restarts[0], "workers_running": 3})
        restarts[0] = 2
        document = yield self.requestJSON("GET", "/stats")
        self.assertEqual((document["worker_restarts"], document["workers_running"]), (2, 3))
        samples = yield self.scrape()
        self.assertEqual(samples["sst_worker_restarts"], 2)

    @inlineCallbacks
    def test_workerDown(self) -> _Yield:
        """
        A worker whose socket is gone is left out and not counted up; the
        answer is still a 200.
        """
        for worker in self.running:
            worker.stats.increment("requests_in", 10)
        yield self.running[1].stop()
        document = yield self.requestJSON("GET", "/stats")
        self.assertEqual(document["requests_in"], 20)
        self.assertEqual((document["workers"], document["workers_up"]), (3, 2))

    @inlineCallbacks
    def test_noneUp(self) -> _Yield:
        """
        When no worker answers, C{/stats} is a JSON 503.
        """
        for worker in self.running:
            yield worker.stop()
        document = yield self.requestJSON("GET", "/stats", 503)
        self.assertEqual(document, {"error": "no worker answered"})

    @inlineCallbacks
    def test_timeout(self) -> _Yield:
        """
        A worker that does not answer within the timeout is left out, and
        its request abandoned.
        """
        yield self.running[1].stop()
        yield self.running[2].stop()
        hanging = yield self.hang(0)
        arrived = hanging.nextRequest()
        answering = self.requestJSON("GET", "/stats", 503)
        request = yield arrived
        abandoned = request.notifyFinish()
        self.timeouts.advance(1.9)
        self.assertNoResult(answering)
        self.timeouts.advance(0.1)
        document = yield answering
        self.assertEqual(document, {"error": "no worker answered"})
        yield self.assertFailure(abandoned, Exception)

    @inlineCallbacks
    def test_clientGone(self) -> _Yield:
        """
        When the client goes before the answer, the workers' requests are
        abandoned and nothing is written or logged.
        """
        hanging = yield self.hang(2)
        arrived = hanging.nextRequest()
        started = self.start("GET", "/stats")
        request = yield arrived
        abandoned = request.notifyFinish()
        started.cancel()
        yield self.assertFailure(started, Exception)
        yield self.assertFailure(abandoned, Exception)


class MergeStatsTests(SynchronousTestCase):
    """
    Tests for L{mergeStats} and L{takesMaximum}.
    """

    def test_kinds(self) -> None:
        """
        Numbers are summed (or the largest taken), booleans and-ed, keys
        merged over the documents that have them, and anything else is the
        first document's.
        """
        self.assertEqual(
            mergeStats(
                [
                    {"n": 1, "x_max": 3, "on": True, "s": "a", "mixed": 1},
                    {"n": 2.5, "x_max": 2, "on": False, "s": "b", "mixed": "z", "only": 4},
                ]
            ),
            {"n": 3.5, "x_max": 3, "on": False, "s": "a", "mixed": 1, "only": 4},
        )

    def test_takesMaximum(self) -> None:
        """
        The garbage collector's longest and last pauses take the maximum;
        totals and counts do not.
        """
        for name in ["gc_pause_max_ms", "gc_gen1_pause_max_ms", "gc_pause_last_ms",
                     "sst_gc_gen0_pause_last_ms", "queue_max"]:
            self.assertTrue(takesMaximum(name), name)
        for name in ["gc_pause_total_ms", "gc_collections", "requests_in", "maximum"]:
            self.assertFalse(takesMaximum(name), name)

    def test_noSockets(self) -> None:
        """
        An aggregate of no workers is refused.
        """
        self.assertRaises(ValueError, makeAggregateResource, [], object())


class MetricsTests(AggregateTestCase):
    """
    Tests for C{GET /metrics}.
    """

    @inlineCallbacks
    def test_sums(self) -> _Yield:
        """
        Samples are summed across workers, maxima take the largest, and
        C{sst_workers} and C{sst_workers_up} are added.
        """
        for k, pause in enumerate([5.0, 12.5, 7.0]):
            values = {"gc_pause_max_ms": pause, "gc_pause_total_ms": pause}
            worker = yield self.replace(k, extra=lambda values=values: values)
            worker.stats.increment("requests_in", k + 1)
        self.place(1, "a@example.com")
        samples = yield self.scrape()
        self.assertEqual(samples["sst_requests_in_total"], 6)
        self.assertEqual(samples["sst_active_dialogs"], 1)
        self.assertEqual(samples["sst_gc_pause_max_ms"], 12.5)
        self.assertEqual(samples["sst_gc_pause_total_ms"], 24.5)
        self.assertEqual((samples["sst_workers"], samples["sst_workers_up"]), (3, 3))
        self.endDialogs()

    @inlineCallbacks
    def test_workerDown(self) -> _Yield:
        """
        A worker that does not answer is left out of the sums and of
        C{sst_workers_up}.
        """
        for worker in self.running:
            worker.stats.increment("requests_in", 10)
        yield self.running[0].stop()
        samples = yield self.scrape()
        self.assertEqual(samples["sst_requests_in_total"], 20)
        self.assertEqual((samples["sst_workers"], samples["sst_workers_up"]), (3, 2))

    @inlineCallbacks
    def test_noneUp(self) -> _Yield:
        """
        When no worker answers, C{/metrics} is a JSON 503.
        """
        for worker in self.running:
            yield worker.stop()
        document = yield self.requestJSON("GET", "/metrics", 503)
        self.assertEqual(document, {"error": "no worker answered"})


class DialogListTests(AggregateTestCase):
    """
    Tests for C{GET /dialogs}.
    """

    @inlineCallbacks
    def test_union(self) -> _Yield:
        """
        Every worker's dialogs are listed, oldest first, and
        C{X-Total-Count} counts them all.
        """
        placed = [
            self.place(2, "first@example.com", at=1001),
            self.place(0, "second@example.com", at=1002),
            self.place(2, "third@example.com", at=1003),
            self.place(1, "fourth@example.com", at=1004),
        ]
        response, body = yield self.request("GET", "/dialogs")
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders(b"x-total-count"), [b"4"])
        self.assertEqual(response.headers.getRawHeaders(b"x-workers-up"), [b"3"])
        listed = json.loads(body)
        self.assertEqual([entry["id"] for entry in listed], [encodeDialogId(d) for d in placed])
        self.assertEqual(listed[0]["created_at"], 1001)
        self.endDialogs()

    @inlineCallbacks
    def test_limit(self) -> _Yield:
        """
        C{?limit=N} lists the oldest N of all; C{X-Total-Count} still counts
        them all.
        """
        for k, worker in enumerate([1, 1, 1, 0, 2]):
            self.place(worker, f"call-{k}@example.com", at=1001 + k)
        response, body = yield self.request("GET", "/dialogs?limit=4")
        self.assertEqual(response.headers.getRawHeaders(b"x-total-count"), [b"5"])
        self.assertEqual(
            [entry["call_id"] for entry in json.loads(body)],
            [f"call-{k}@example.com" for k in range(4)],
        )
        listed = yield self.requestJSON("GET", "/dialogs?limit=0")
        self.assertEqual(listed, [])
        self.endDialogs()

    @inlineCallbacks
    def test_badLimit(self) -> _Yield:
        """
        A C{limit} that is not an integer from 0 to L{MAX_LIMIT} is a 400.
        """
        for limit in ["x", "-1", str(MAX_LIMIT + 1)]:
            document = yield self.requestJSON("GET", "/dialogs?limit=" + limit, 400)
            self.assertEqual(document, {"error": "limit must be an integer from 0 to 100000"})

    @inlineCallbacks
    def test_workerDown(self) -> _Yield:
        """
        A worker that does not answer is left out of the list and the count.
        """
        self.place(0, "zero@example.com")
        self.place(1, "one@example.com")
        yield self.running[0].stop()
        response, body = yield self.request("GET", "/dialogs")
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders(b"x-total-count"), [b"1"])
        self.assertEqual(response.headers.getRawHeaders(b"x-workers-up"), [b"2"])
        self.assertEqual([entry["call_id"] for entry in json.loads(body)], ["one@example.com"])
        self.endDialogs()

    @inlineCallbacks
    def test_noneUp(self) -> _Yield:
        """
        When no worker answers, C{/dialogs} is a JSON 503.
        """
        for worker in self.running:
            yield worker.stop()
        document = yield self.requestJSON("GET", "/dialogs", 503)
        self.assertEqual(document, {"error": "no worker answered"})


class DialogTests(AggregateTestCase):
    """
    Tests for C{GET} and C{DELETE /dialogs/<id>}, relayed to the owner.
    """

    @inlineCallbacks
    def test_routedToOwner(self) -> _Yield:
        """
        C{GET /dialogs/<id>} answers what the owner of the Call-ID answers.
        """
        for owner in range(self.workers):
            dialogId = self.place(owner, callIdOwnedBy(owner, self.workers))
            document = yield self.requestJSON("GET", "/dialogs/" + encodeDialogId(dialogId))
            self.assertEqual(document["call_id"], dialogId.callId)
            self.assertEqual(document["id"], encodeDialogId(dialogId))
        self.endDialogs()

    @inlineCallbacks
    def test_wrongWorker(self) -> _Yield:
        """
        A dialog held by a worker that does not own its Call-ID is not
        found: only the owner is asked.
        """
        callId = callIdOwnedBy(1, self.workers)
        dialogId = self.place(0, callId)
        self.place(2, callId)
        document = yield self.requestJSON("GET", "/dialogs/" + encodeDialogId(dialogId), 404)
        self.assertEqual(document, {"error": "no such dialog"})
        self.endDialogs()

    @inlineCallbacks
    def test_head(self) -> _Yield:
        """
        C{HEAD /dialogs/<id>} has the owner's status and no body.
        """
        dialogId = self.place(1, callIdOwnedBy(1, self.workers))
        response, body = yield self.request("HEAD", "/dialogs/" + encodeDialogId(dialogId))
        self.assertEqual((response.code, body), (200, b""))
        self.endDialogs()

    @inlineCallbacks
    def test_deleteWithToken(self) -> _Yield:
        """
        C{DELETE} with the token ends the dialog on its owner.
        """
        dialogId = self.place(2, callIdOwnedBy(2, self.workers))
        path = "/dialogs/" + encodeDialogId(dialogId)
        document = yield self.requestJSON("DELETE", path, 200, BEARER)
        self.assertEqual(document["terminated"]["call_id"], dialogId.callId)
        self.assertEqual(self.running[2].recorder.terminated, [(dialogId, "admin")])
        self.assertEqual(len(self.running[2].dialogs), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    @inlineCallbacks
    def test_deleteWithoutToken(self) -> _Yield:
        """
        C{DELETE} without the right token gets the owner's 401 and its
        challenge, and the dialog stays.
        """
        dialogId = self.place(0, callIdOwnedBy(0, self.workers))
        path = "/dialogs/" + encodeDialogId(dialogId)
        for headers in [None, {"Authorization": "Bearer wrong"}]:
            response, body = yield self.request("DELETE", path, headers)
            self.assertEqual(response.code, 401)
            self.assertEqual(json.loads(body), {"error": "missing or wrong bearer token"})
            self.assertEqual(
                response.headers.getRawHeaders(b"www-authenticate"), [b'Bearer realm="sst"']
            )
        self.assertEqual(self.running[0].recorder.terminated, [])
        self.assertEqual(len(self.running[0].dialogs), 1)
        self.endDialogs()

    @inlineCallbacks
    def test_badId(self) -> _Yield:
        """
        An id that does not decode is answered as a worker would: C{GET} a
        404, C{DELETE} a 401 without the token, a 404 with it, and a 403
        when no token is configured.
        """
        for bad in ["!!", encodeDialogId(DialogId("a", "b", "c")) + "A"]:
            document = yield self.requestJSON("GET", "/dialogs/" + bad, 404)
            self.assertEqual(document, {"error": "no such dialog"})
            yield self.requestJSON("DELETE", "/dialogs/" + bad, 401)
            yield self.requestJSON("DELETE", "/dialogs/" + bad, 404, BEARER)
        self.serve(token=None)
        yield self.requestJSON("DELETE", "/dialogs/!!", 403, BEARER)

    @inlineCallbacks
    def test_ownerDown(self) -> _Yield:
        """
        When the owner does not answer, the answer is a JSON 503, though
        other workers do.
        """
        dialogId = self.place(1, callIdOwnedBy(1, self.workers))
        yield self.running[1].stop()
        path = "/dialogs/" + encodeDialogId(dialogId)
        document = yield self.requestJSON("GET", path, 503)
        self.assertEqual(document, {"error": "worker 1 did not answer"})
        yield self.requestJSON("DELETE", path, 503, BEARER)
        self.endDialogs()

    @inlineCallbacks
    def test_ownerTimeout(self) -> _Yield:
        """
        When the owner does not answer within the timeout, the answer is a
        JSON 503, and the owner's request is abandoned.
        """
        dialogId = DialogId(callIdOwnedBy(2, self.workers), "from", "to")
        hanging = yield self.hang(2)
        arrived = hanging.nextRequest()
        answering = self.requestJSON("GET", "/dialogs/" + encodeDialogId(dialogId), 503)
        request = yield arrived
        abandoned = request.notifyFinish()
        self.assertNoResult(answering)
        self.timeouts.advance(2)
        document = yield answering
        self.assertEqual(document, {"error": "worker 2 did not answer"})
        yield self.assertFailure(abandoned, Exception)


class RoutingTests(AggregateTestCase):
    """
    Tests for the root, unknown paths and methods.
    """

    @inlineCallbacks
    def test_unknownPaths(self) -> _Yield:
        """
        The root, unknown paths and paths below the endpoints are JSON 404s.
        """
        for path in ["/", "/nope", "/stats/x", "/metrics/x", "/dialogs//x"]:
            document = yield self.requestJSON("GET", path, 404)
            self.assertEqual(document, {"error": "not found"}, path)

    @inlineCallbacks
    def test_wrongMethods(self) -> _Yield:
        """
        Other methods on known paths are JSON 405s with an C{Allow} header.
        """
        item = "/dialogs/" + encodeDialogId(DialogId("a", "b", "c"))
        for method, path, allowed in [
            ("POST", "/stats", b"GET, HEAD"),
            ("DELETE", "/metrics", b"GET, HEAD"),
            ("PUT", "/dialogs", b"GET, HEAD"),
            ("PUT", item, b"DELETE, GET, HEAD"),
        ]:
            response, body = yield self.request(method, path)
            self.assertEqual(response.code, 405, (method, path))
            self.assertEqual(response.headers.getRawHeaders(b"allow"), [allowed])
            self.assertEqual(json.loads(body), {"error": "method not allowed"})
