# -*- test-case-name: sst.test.test_web -*-
"""
The operations HTTP API: counters, dialogs and Prometheus metrics.

L{makeResource} builds the root resource that C{tap.py} serves with
C{strports.service(..., Site(resource))}::

    GET    /stats          counters and gauges, as JSON
    GET    /dialogs        the dialogs, as a JSON list (C{?limit=N})
    GET    /dialogs/<id>   one dialog
    DELETE /dialogs/<id>   end a dialog (needs C{Authorization: Bearer <token>})
    GET    /metrics        the Prometheus text exposition

Every answer but C{/metrics} is JSON with C{Content-Type: application/json};
errors are C{{"error": "..."}}.  Unknown paths get 404, other methods on a
known path 405 with an C{Allow} header.  C{HEAD} is accepted wherever C{GET}
is.  Rendering never raises: an unexpected error is logged and becomes a 500.

A dialog's C{<id>} is L{encodeDialogId} of its L{DialogId}: the unpadded
base64url of C{"callId\\0fromTag\\0toTag"} in UTF-8.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
from typing import Callable, Iterable, Iterator, Optional

from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry
from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import IResource, Resource
from twisted.web.server import Request

from sst._httpapi import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
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
from sst.dialogs import Dialog, DialogId, DialogTable
from sst.stats import DESCRIPTIONS, Stats

__all__ = [
    "makeResource",
    "encodeDialogId",
    "decodeDialogId",
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
]

_BASE64URL = re.compile(rb"[A-Za-z0-9_-]*")
_TOKEN = re.compile(rb"[\x21-\x7e]+")


def encodeDialogId(dialogId: DialogId) -> str:
    """
    Name a dialog in a URL path segment.

    @param dialogId: the dialog's identifier.  Its parts must not contain
        NUL, which SIP does not allow in a Call-ID or tag anyway; if they do,
        the result does not decode.
    @return: the unpadded base64url of C{"callId\\0fromTag\\0toTag"} in
        UTF-8 (lone surrogates pass through).
    """
    raw = "\0".join(dialogId).encode("utf-8", "surrogatepass")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decodeDialogId(text: str | bytes) -> DialogId:
    """
    Read a dialog identifier made by L{encodeDialogId}.

    @param text: the encoded identifier.
    @return: the identifier.
    @raise ValueError: if C{text} is not exactly what L{encodeDialogId}
        makes for some identifier (padding, other characters or trailing
        bits are refused, so each dialog has one name).
    """
    data = text.encode("ascii") if isinstance(text, str) else text
    if _BASE64URL.fullmatch(data) is None:
        raise ValueError("dialog id is not unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))
    except binascii.Error as e:
        raise ValueError(f"dialog id is not base64url: {e}") from e
    if base64.urlsafe_b64encode(raw).rstrip(b"=") != data:
        raise ValueError("dialog id is not in canonical form")
    parts = raw.decode("utf-8", "surrogatepass").split("\0")
    if len(parts) != 3:
        raise ValueError("dialog id does not hold a Call-ID and two tags")
    return DialogId(*parts)


class _Operations:
    """
    What the resources share: the live objects they report on, and the
    answers they build from them.
    """

    def __init__(
        self,
        stats: Stats,
        dialogs: DialogTable,
        clock: IReactorTime,
        token: Optional[bytes],
        extra: Optional[Callable[[], dict[str, object]]],
        onDelete: Optional[Callable[[Dialog], None]],
    ) -> None:
        self.stats = stats
        self.dialogs = dialogs
        self.clock = clock
        self.token = token
        self.extra = extra
        self.onDelete = onDelete

    def gauges(self) -> dict[str, int]:
        """
        @return: C{active_dialogs} and C{timed_dialogs}.
        """
        dialogs = self.dialogs
        return {
            "active_dialogs": len(dialogs),
            "timed_dialogs": sum(1 for dialog in dialogs if dialog.timed),
        }

    def extraValues(self) -> dict[str, object]:
        """
        @return: what C{extra} reports, or nothing without it.
        """
        return {} if self.extra is None else dict(self.extra())

    def statsDocument(self) -> dict[str, object]:
        """
        @return: the body of C{GET /stats}.  With stats enabled: the
            C{extra} values, every counter, the gauges and C{"enabled": true}
            (a later one wins where names clash); disabled: the gauges and
            C{"enabled": false} only.
        """
        document: dict[str, object] = {}
        if self.stats.enabled:
            document.update(self.extraValues())
            document.update(self.stats.snapshot())
        document.update(self.gauges())
        document["enabled"] = self.stats.enabled
        return document

    def describe(self, dialog: Dialog, now: float) -> dict[str, object]:
        """
        @param dialog: a dialog.
        @param now: the clock's time.
        @return: L{Dialog.asDict} plus C{id} and C{expires_in}.
        """
        document = dialog.asDict()
        document["id"] = encodeDialogId(dialog.id)
        document["expires_in"] = dialog.expiresAt - now
        return document

    def find(self, segment: bytes) -> Optional[Dialog]:
        """
        @param segment: a URL path segment naming a dialog.
        @return: the dialog, or L{None} if there is none of that name.
        """
        try:
            dialogId = decodeDialogId(segment)
        except ValueError:
            return None
        return self.dialogs.get(dialogId)

    def metrics(self) -> Iterator[Metric]:
        """
        Read the live stats and table for a scrape.  With stats disabled,
        only the dialog gauges.

        @return: a gauge per dialog gauge, a counter per counter, and a gauge
            per numeric C{extra} value, each named C{sst_<name>}; a name that
            would clash with one before it is left out.
        """
        taken: set[str] = set()

        def claim(*names: str) -> bool:
            if taken.intersection(names):
                return False
            taken.update(names)
            return True

        gauges = self.gauges()
        yield GaugeMetricFamily(
            "sst_active_dialogs",
            "Dialogs in the dialog table",
            value=gauges["active_dialogs"],
        )
        yield GaugeMetricFamily(
            "sst_timed_dialogs",
            "Dialogs with a session timer",
            value=gauges["timed_dialogs"],
        )
        claim("sst_active_dialogs", "sst_timed_dialogs")
        if not self.stats.enabled:
            return
        for name, value in sorted(self.stats.snapshot().items()):
            base = metricName(name).removesuffix("_total")
            if claim(base, base + "_total"):
                yield CounterMetricFamily(
                    base, DESCRIPTIONS.get(name, f"sst counter {name}"), value=value
                )
        for name, extraValue in sorted(self.extraValues().items()):
            if isinstance(extraValue, bool) or not isinstance(
                extraValue, (int, float)
            ):
                continue
            gaugeName = metricName(name)
            if claim(gaugeName):
                yield GaugeMetricFamily(
                    gaugeName, f"sst service value {name}", value=extraValue
                )


class _Collector(Collector):
    """
    A Prometheus collector that reads L{_Operations.metrics} at scrape time.
    """

    def __init__(self, operations: _Operations) -> None:
        self._operations = operations

    def collect(self) -> Iterable[Metric]:
        """
        @return: the metrics, read now.
        """
        return list(self._operations.metrics())


class _Endpoint(MethodDispatch):
    """
    An endpoint of the API, over the live objects it reports on.
    """

    def __init__(self, operations: _Operations) -> None:
        super().__init__()
        self.operations = operations


class _Stats(_Endpoint):
    """
    C{/stats}: counters and gauges as JSON.
    """

    def __init__(self, operations: _Operations) -> None:
        super().__init__(operations)
        self.handlers = {b"GET": self._get}

    def _get(self, request: Request) -> bytes:
        return jsonAnswer(request, 200, self.operations.statsDocument())


class _Metrics(_Endpoint):
    """
    C{/metrics}: the Prometheus text exposition from a private registry.
    """

    def __init__(self, operations: _Operations) -> None:
        super().__init__(operations)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(operations))
        self.handlers = {b"GET": self._get}

    def _get(self, request: Request) -> bytes:
        body = generate_latest(self.registry)
        return respond(request, 200, body, CONTENT_TYPE_LATEST.encode("ascii"))


class _Dialogs(_Endpoint):
    """
    C{/dialogs}: the list of dialogs; its children are the dialogs.
    """

    isLeaf = False

    def __init__(self, operations: _Operations) -> None:
        super().__init__(operations)
        self.handlers = {b"GET": self._get}
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
        return _DialogItem(self.operations, path)

    def _get(self, request: Request) -> bytes:
        try:
            limit = parseLimit(request)
        except ValueError as e:
            return errorAnswer(request, 400, str(e))
        operations = self.operations
        now = operations.clock.seconds()
        listed = [
            operations.describe(dialog, now)
            for dialog in itertools.islice(operations.dialogs, limit)
        ]
        request.responseHeaders.setRawHeaders(
            b"x-total-count", [b"%d" % (len(operations.dialogs),)]
        )
        return jsonAnswer(request, 200, listed)


class _DialogItem(_Endpoint):
    """
    C{/dialogs/<id>}: one dialog, which C{DELETE} ends.
    """

    def __init__(self, operations: _Operations, segment: bytes) -> None:
        super().__init__(operations)
        self._segment = segment
        self.handlers = {b"GET": self._get, b"DELETE": self._delete}

    def _get(self, request: Request) -> bytes:
        dialog = self.operations.find(self._segment)
        if dialog is None:
            return errorAnswer(request, 404, "no such dialog")
        now = self.operations.clock.seconds()
        return jsonAnswer(request, 200, self.operations.describe(dialog, now))

    def _delete(self, request: Request) -> bytes:
        operations = self.operations
        refusal = refuseDelete(request, operations.token)
        if refusal is not None:
            return refusal
        dialog = operations.find(self._segment)
        if dialog is None:
            return errorAnswer(request, 404, "no such dialog")
        document = operations.describe(dialog, operations.clock.seconds())
        self._log.info(
            "Operations API ends dialog {callId} ({fromTag}/{toTag})",
            callId=dialog.id.callId,
            fromTag=dialog.id.fromTag,
            toTag=dialog.id.toTag,
        )
        if operations.onDelete is None:
            operations.dialogs.terminate(dialog.id, "admin")
        else:
            operations.onDelete(dialog)
        return jsonAnswer(request, 200, {"terminated": document})


def makeResource(
    stats: Stats,
    dialogs: DialogTable,
    clock: IReactorTime,
    token: Optional[bytes] = None,
    extra: Optional[Callable[[], dict[str, object]]] = None,
    onDelete: Optional[Callable[[Dialog], None]] = None,
) -> Resource:
    """
    Build the operations API.

    @param stats: the counters; when C{stats.enabled} is false, C{/stats}
        and C{/metrics} report only the dialog gauges.
    @param dialogs: the dialog table to list and to end dialogs in.
    @param clock: tells the time for C{expires_in}.
    @param token: the bearer token C{DELETE} requires, or L{None} to refuse
        every C{DELETE} with 403.
    @param extra: called at each C{/stats} and C{/metrics} request for more
        values (such as transaction counts) to report with the counters;
        numeric ones become C{sst_<name>} gauges in C{/metrics}.
    @param onDelete: called with the dialog an authorised C{DELETE} names,
        instead of C{dialogs.terminate(dialog.id, "admin")}.
    @return: the root resource.
    @raise ValueError: if C{token} is empty, or holds anything but visible
        ASCII, so that a request could not present it in a header
        (RFC 6750 section 2.1).
    """
    if token is not None and _TOKEN.fullmatch(token) is None:
        raise ValueError("The management token must be one or more visible ASCII characters")
    operations = _Operations(stats, dialogs, clock, token, extra, onDelete)
    root = Root()
    root.putChild(b"stats", _Stats(operations))
    root.putChild(b"dialogs", _Dialogs(operations))
    root.putChild(b"metrics", _Metrics(operations))
    return root
