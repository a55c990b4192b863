# -*- test-case-name: sst.test.test_workerweb -*-
"""
The operations API of C{twistd sst --workers N}: every worker serves its own
API (L{sst.web.makeResource}) on a unix socket, and the parent serves
L{makeAggregateResource}, which shows the workers together::

    GET    /stats          every worker's counters merged (L{mergeStats}),
                           plus C{workers} and C{workers_up}
    GET    /metrics        every worker's samples merged the same way, plus
                           C{sst_workers} and C{sst_workers_up}
    GET    /dialogs        every worker's dialogs, oldest first (C{?limit=N})
    GET    /dialogs/<id>   relayed to the worker that owns the dialog
    DELETE /dialogs/<id>   relayed likewise (the worker checks the token)

The workers are asked concurrently, each with a timeout.  A worker that does
not answer in time, or answers wrongly, is left out and not counted in
C{workers_up}: the answer is partial, but still a 200.  When no worker
answers, or the owner of a dialog does not, the answer is a 503.  Paths,
methods, content types and errors are otherwise those of L{sst.web}.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import UNIXClientEndpoint
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import URI, Agent, readBody
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IAgentEndpointFactory, IResponse
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET, Request
from zope.interface import implementer

from sst._httpapi import (
    JSON,
    MethodDispatch,
    NotFound,
    Root,
    errorAnswer,
    jsonAnswer,
    metricName,
    parseLimit,
    refuseDelete,
    respond,
)
from sst.ownership import ownerOf
from sst.web import decodeDialogId

__all__ = ["makeAggregateResource", "mergeStats", "takesMaximum", "MAXIMUM_SUFFIXES"]

#: The endings of the names whose values are a maximum, or the latest of
#: something (the last garbage collector pause), rather than a count: summing
#: them across workers would mean nothing, so they merge to the largest.
MAXIMUM_SUFFIXES = ("_max", "_max_ms", "_last", "_last_ms")

_METRICS_TYPE = CONTENT_TYPE_LATEST.encode("ascii")
_WORKERS = metricName("workers")
_WORKERS_UP = metricName("workers_up")


def takesMaximum(name: str) -> bool:
    """
    @param name: a key of C{/stats}, or the name of a metric family.
    @return: whether the workers' values of C{name} merge to the largest
        (see L{MAXIMUM_SUFFIXES}) rather than to their sum.
    """
    return name.endswith(MAXIMUM_SUFFIXES)


def _isNumber(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def mergeStats(documents: Sequence[Mapping[str, object]]) -> dict[str, object]:
    """
    Merge the workers' C{/stats}, key by key, over the workers that have it.

    @param documents: the workers' C{/stats} documents.
    @return: for each key, the sum of its numbers (the largest if
        L{takesMaximum}); the I{and} of its booleans (C{enabled}); the first
        worker's value when they are neither, or not all of one kind.
    """
    merged: dict[str, object] = {}
    for key in dict.fromkeys(key for document in documents for key in document):
        values = [document[key] for document in documents if key in document]
        if all(isinstance(value, bool) for value in values):
            merged[key] = all(values)
        elif all(_isNumber(value) for value in values):
            numbers: list[Any] = values
            merged[key] = max(numbers) if takesMaximum(key) else sum(numbers)
        else:
            merged[key] = values[0]
    return merged


@dataclass(frozen=True)
class _Answer:
    """
    What a worker answered.
    """

    code: int
    headers: Headers
    body: bytes

    def json(self, kind: type) -> Any:
        """
        @return: the body decoded, if the answer is a 200 with a JSON
            C{kind}; else L{None}.
        """
        if self.code != 200:
            return None
        try:
            document = json.loads(self.body)
        except ValueError:
            return None
        return document if isinstance(document, kind) else None


def _parseMetrics(answer: Optional[_Answer]) -> Optional[list[Metric]]:
    """
    @return: the metric families of a worker's C{/metrics}, or L{None} if it
        gave none.
    """
    if answer is None or answer.code != 200:
        return None
    try:
        return list(text_string_to_metric_families(answer.body.decode("utf-8")))
    except ValueError:
        return None


def _mergeMetrics(expositions: Iterable[list[Metric]]) -> list[Metric]:
    """
    Merge the workers' metrics.

    @param expositions: each worker's metric families.
    @return: every family, as first described, with its samples summed by
        name and labels (the largest if the family L{takesMaximum}).
    """
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for exposition in expositions:
        for family in exposition:
            if family.name in (_WORKERS, _WORKERS_UP):
                continue
            families.setdefault(family.name, family)
            samples = values.setdefault(family.name, {})
            maximum = takesMaximum(family.name)
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if key not in samples:
                    samples[key] = sample.value
                elif maximum:
                    samples[key] = max(samples[key], sample.value)
                else:
                    samples[key] += sample.value
    merged = []
    for name, first in families.items():
        family = Metric(name, first.documentation, first.type)
        for (sampleName, labels), value in values[name].items():
            family.add_sample(sampleName, dict(labels), value)
        merged.append(family)
    return merged


class _Families(Collector):
    """
    A collector of metric families already read.
    """

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        """
        @return: the families.
        """
        return self._families


@implementer(IAgentEndpointFactory)
class _SocketEndpoints:
    """
    Connects every request to one unix socket, whatever its URI.
    """

    def __init__(self, reactor: Any, path: str, timeout: float) -> None:
        self._reactor = reactor
        self._path = path
        self._timeout = timeout

    def endpointForURI(self, uri: URI) -> IStreamClientEndpoint:
        """
        @return: an endpoint to the socket.
        """
        return UNIXClientEndpoint(  # type: ignore[no-untyped-call]
            self._reactor, self._path, timeout=self._timeout
        )


class _Workers:
    """
    The workers' APIs, as their client.

    @ivar sockets: the unix socket of each worker's API, by worker index.
    """

    _log = Logger()

    def __init__(self, sockets: Sequence[str], reactor: Any, timeout: float,
                 extra: Optional[Callable[[], Mapping[str, int]]] = None) -> None:
        self.sockets = list(sockets)
        #: The parent's own figures (such as C{worker_restarts}), added to C{/stats} and
        #: C{/metrics}.
        self.extra = extra
        self._reactor = reactor
        self._timeout = timeout
        self._agents: list[IAgent] = [
            Agent.usingEndpointFactory(  # type: ignore[no-untyped-call]
                reactor, _SocketEndpoints(reactor, path, timeout)
            )
            for path in self.sockets
        ]

    def __len__(self) -> int:
        return len(self.sockets)

    def fetch(
        self, index: int, method: bytes, path: bytes, authorization: Optional[bytes] = None
    ) -> Deferred[Optional[_Answer]]:
        """
        Ask one worker.

        @param index: the worker.
        @param path: the path and query to ask for.
        @param authorization: the C{Authorization} header to pass on, if any.
        @return: a L{Deferred} that fires with the worker's whole answer, or
            with L{None} if the worker did not give one within the timeout.
            Cancelling it abandons the request.
        """
        headers = Headers()
        if authorization is not None:
            headers.setRawHeaders(b"authorization", [authorization])
        requested = self._agents[index].request(method, b"http://worker" + path, headers)

        def read(response: IResponse) -> Deferred[_Answer]:
            return readBody(response).addCallback(
                lambda body: _Answer(response.code, response.headers, body)
            )

        def failed(reason: Failure) -> None:
            self._log.info(
                "Worker {index} did not answer {method} {path}: {reason}",
                index=index,
                method=method,
                path=path,
                reason=reason.getErrorMessage(),
            )
            return None

        answered: Deferred[_Answer] = requested.addCallback(read)
        answered.addTimeout(self._timeout, self._reactor)
        return answered.addErrback(failed)

    def fetchAll(self, path: bytes) -> Deferred[list[Optional[_Answer]]]:
        """
        Ask every worker with C{GET path}, all at once.

        @return: a L{Deferred} that fires with each worker's answer, or
            L{None} for a worker that did not give one.
        """
        return gatherResults([self.fetch(index, b"GET", path) for index in range(len(self))])


class _AsyncEndpoint(MethodDispatch):
    """
    An endpoint whose answers depend on the workers, so come later.
    """

    def __init__(self, workers: _Workers) -> None:
        super().__init__()
        self.workers = workers

    def later(self, request: Request, answering: Deferred[bytes]) -> int:
        """
        Write the answer to C{request} when it comes, or a logged 500 if
        making it fails; cancel it if the client goes first.

        @param answering: fires with the body of the answer, its status and
            headers set.
        @return: C{NOT_DONE_YET}.
        """
        gone = []

        def lost(reason: Failure) -> None:
            gone.append(reason)
            answering.cancel()

        def write(body: bytes) -> None:
            if not gone:
                request.write(body)  # type: ignore[no-untyped-call]
                request.finish()  # type: ignore[no-untyped-call]

        def failed(reason: Failure) -> None:
            if not gone:
                self._log.failure(
                    "Operations API failed on {method} {uri}",
                    reason,
                    method=request.method,
                    uri=request.uri,
                )
                write(self.internalError(request))

        request.notifyFinish().addErrback(lost)
        answering.addCallbacks(write, failed).addErrback(
            lambda reason: self._log.failure("Operations API could not answer", reason)
        )
        return NOT_DONE_YET


class _Stats(_AsyncEndpoint):
    """
    C{/stats}: the workers' counters and gauges merged.
    """

    def __init__(self, workers: _Workers) -> None:
        super().__init__(workers)
        self.handlers = {b"GET": self._get}

    def _get(self, request: Request) -> int:
        def merge(answers: list[Optional[_Answer]]) -> bytes:
            documents = [answer.json(dict) for answer in answers if answer is not None]
            documents = [document for document in documents if document is not None]
            if not documents:
                return errorAnswer(request, 503, "no worker answered")
            merged = mergeStats(documents)
            merged["workers"] = len(answers)
            merged["workers_up"] = len(documents)
            if self.workers.extra is not None:
                merged.update(self.workers.extra())
            return jsonAnswer(request, 200, merged)

        return self.later(request, self.workers.fetchAll(b"/stats").addCallback(merge))


class _Metrics(_AsyncEndpoint):
    """
    C{/metrics}: the workers' samples merged, in the Prometheus text format.
    """

    def __init__(self, workers: _Workers) -> None:
        super().__init__(workers)
        self.handlers = {b"GET": self._get}

    def _get(self, request: Request) -> int:
        def merge(answers: list[Optional[_Answer]]) -> bytes:
            parsed = [_parseMetrics(answer) for answer in answers]
            expositions = [families for families in parsed if families is not None]
            if not expositions:
                return errorAnswer(request, 503, "no worker answered")
            families = _mergeMetrics(expositions)
            up = len(expositions)
            families.append(GaugeMetricFamily(_WORKERS, "Worker processes", value=len(answers)))
            families.append(
                GaugeMetricFamily(
                    _WORKERS_UP, "Worker processes that answered this scrape", value=up
                )
            )
            if self.workers.extra is not None:
                for name, value in sorted(self.workers.extra().items()):
                    families.append(GaugeMetricFamily(metricName(name), "The parent's " + name,
                                                      value=value))
            body = generate_latest(_Families(families))
            return respond(request, 200, body, _METRICS_TYPE)

        return self.later(request, self.workers.fetchAll(b"/metrics").addCallback(merge))


def _createdAt(dialog: dict[str, Any]) -> float:
    value = dialog.get("created_at")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return float("inf")


class _Dialogs(_AsyncEndpoint):
    """
    C{/dialogs}: the workers' dialogs; its children are the dialogs.
    """

    isLeaf = False

    def __init__(self, workers: _Workers, token: Optional[bytes]) -> None:
        super().__init__(workers)
        self.handlers = {b"GET": self._get}
        self._token = token
        self._notFound = NotFound()

    def getChild(self, path: bytes, request: Request) -> IResource:
        """
        @return: this resource for C{/dialogs/}, one dialog's for
            C{/dialogs/<id>}, else a 404.
        """
        if path == b"" and not request.postpath:
            return self
        if path == b"":
            return self._notFound
        return _DialogItem(self.workers, self._token, path)

    def _get(self, request: Request) -> bytes | int:
        try:
            limit = parseLimit(request)
        except ValueError as e:
            return errorAnswer(request, 400, str(e))

        def merge(answers: list[Optional[_Answer]]) -> bytes:
            listed: list[dict[str, Any]] = []
            total = up = 0
            for answer in answers:
                dialogs = None if answer is None else answer.json(list)
                if answer is None or dialogs is None:
                    continue
                try:
                    [count] = answer.headers.getRawHeaders(b"x-total-count", [])
                    total += int(count)
                except ValueError:
                    continue
                listed.extend(dialog for dialog in dialogs if isinstance(dialog, dict))
                up += 1
            if not up:
                return errorAnswer(request, 503, "no worker answered")
            listed.sort(key=_createdAt)
            headers = request.responseHeaders
            headers.setRawHeaders(b"x-total-count", [b"%d" % (total,)])
            headers.setRawHeaders(b"x-workers", [b"%d" % (len(answers),)])
            headers.setRawHeaders(b"x-workers-up", [b"%d" % (up,)])
            return jsonAnswer(request, 200, listed[:limit])

        fetched = self.workers.fetchAll(b"/dialogs?limit=%d" % (limit,))
        return self.later(request, fetched.addCallback(merge))


class _DialogItem(_AsyncEndpoint):
    """
    C{/dialogs/<id>}: relayed to the worker that owns the dialog.
    """

    def __init__(self, workers: _Workers, token: Optional[bytes], segment: bytes) -> None:
        super().__init__(workers)
        self._token = token
        self._segment = segment
        self.handlers = {b"GET": self._get, b"DELETE": self._delete}

    def _get(self, request: Request) -> bytes | int:
        return self._relay(request, b"GET", lambda: errorAnswer(request, 404, "no such dialog"))

    def _delete(self, request: Request) -> bytes | int:
        def unknown() -> bytes:
            refusal = refuseDelete(request, self._token)
            if refusal is not None:
                return refusal
            return errorAnswer(request, 404, "no such dialog")

        return self._relay(request, b"DELETE", unknown)

    def _relay(self, request: Request, method: bytes, unknown: Callable[[], bytes]) -> bytes | int:
        """
        Relay C{request} to the dialog's owner, as C{method}.

        @param unknown: answers, as L{sst.web} would, when the id names no
            dialog.
        """
        try:
            dialogId = decodeDialogId(self._segment)
        except ValueError:
            return unknown()
        owner = ownerOf(dialogId.callId.encode("latin-1", "replace"), len(self.workers))
        path = b"/dialogs/" + self._segment
        authorization = request.getHeader(b"authorization")

        def relayed(answer: Optional[_Answer]) -> bytes:
            if answer is None:
                return errorAnswer(request, 503, f"worker {owner} did not answer")
            challenge = answer.headers.getRawHeaders(b"www-authenticate")
            if challenge is not None:
                request.responseHeaders.setRawHeaders(b"www-authenticate", challenge)
            [contentType] = answer.headers.getRawHeaders(b"content-type", [JSON])[-1:]
            return respond(request, answer.code, answer.body, contentType)

        fetched = self.workers.fetch(owner, method, path, authorization)
        return self.later(request, fetched.addCallback(relayed))


def makeAggregateResource(
    sockets: Sequence[str],
    reactor: Any,
    token: Optional[bytes] = None,
    timeout: float = 2.0,
    extra: Optional[Callable[[], Mapping[str, int]]] = None,
) -> Resource:
    """
    Build the operations API that shows the workers together.

    @param sockets: the unix socket of each worker's API, by worker index
        (the index L{sst.ownership.ownerOf} gives).
    @param reactor: provides C{IReactorUNIX} and C{IReactorTime}.
    @param token: the bearer token the workers are configured with, or
        L{None}.  Only used to answer a C{DELETE} of a malformed id as a
        worker would; the workers check the token of every other C{DELETE}.
    @param timeout: how many seconds to wait for a worker's whole answer.
    @param extra: called at each C{/stats} and C{/metrics} request for the parent's own
        figures (C{worker_restarts}, C{workers_running}), added as they are.
    @return: the root resource.
    @raise ValueError: without sockets.
    """
    if not sockets:
        raise ValueError("need at least one worker socket")
    workers = _Workers(sockets, reactor, timeout, extra)
    root = Root()
    root.putChild(b"stats", _Stats(workers))
    root.putChild(b"dialogs", _Dialogs(workers, token))
    root.putChild(b"metrics", _Metrics(workers))
    return root
