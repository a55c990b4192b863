# -*- test-case-name: sst.test.test_web -*-
"""
Tests for L{sst.web}.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Generator, Optional

from hypothesis import given, settings, strategies as st
from prometheus_client import REGISTRY
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from treq.testing import StubTreq
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.logger import LogLevel, capturedLogs
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.iweb import IResponse
from twisted.web.resource import Resource
from twisted.web.server import Site

from sst.dialogs import Dialog, DialogId, DialogObserverBase, DialogTable
from sst.stats import COUNTERS, Stats
from sst.web import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    decodeDialogId,
    encodeDialogId,
    makeResource,
)

TOKEN = b"s3cret-token"
TIMED = DialogId("timed@example.com", "caller-tag", "callee-tag")
UNTIMED = DialogId("untimed@example.com", "a", "b")
URL_SAFE = re.compile(r"[A-Za-z0-9_-]+\Z")

propertySettings = settings(derandomize=True, max_examples=200, deadline=None)


class TerminationRecorder(DialogObserverBase):
    """
    Records the id and reason of every terminated dialog.
    """

    def __init__(self) -> None:
        self.terminated: list[tuple[DialogId, str]] = []

    def dialogTerminated(self, dialog: Dialog, reason: str) -> None:
        self.terminated.append((dialog.id, reason))


class Boom(Exception):
    """
    Raised by test callables to provoke a 500.
    """


class WebTestCase(SynchronousTestCase):
    """
    Serves the API for a L{Clock}-driven table and L{Stats} through
    L{StubTreq}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        self.stats = Stats()
        self.dialogs = DialogTable(self.clock)
        self.recorder = TerminationRecorder()
        self.dialogs.addObserver(self.recorder)
        self.serve()

    def serve(
        self,
        token: Optional[bytes] = None,
        extra: Optional[Callable[[], dict[str, object]]] = None,
        onDelete: Optional[Callable[[Dialog], None]] = None,
    ) -> Resource:
        """
        Serve a new resource with these arguments from now on.
        """
        self.resource = makeResource(
            self.stats, self.dialogs, self.clock, token, extra, onDelete
        )
        # StubTreq sets its request functions at run time, unseen by mypy.
        self.stub: Any = StubTreq(self.resource)
        return self.resource

    def addDialogs(self) -> None:
        """
        Add a confirmed dialog with a 90 s session timer (refreshed by the
        UAC) and an early one without.
        """
        self.dialogs.create(TIMED, confirmed=True, lifetime=90, interval=90, refresher="uac")
        self.dialogs.create(UNTIMED, lifetime=3600)

    def request(
        self, method: str, path: str, headers: Optional[dict[str, str]] = None
    ) -> tuple[IResponse, bytes]:
        """
        Make a request and read the whole answer.

        @return: the response and its body.
        """
        response: IResponse = self.successResultOf(
            self.stub.request(method, "http://sst.invalid" + path, headers=headers)
        )
        body: bytes = self.successResultOf(self.stub.content(response))
        return response, body

    def requestJSON(
        self,
        method: str,
        path: str,
        code: int = 200,
        headers: Optional[dict[str, str]] = None,
    ) -> Any:
        """
        Make a request, check its status and JSON content type, and decode it.

        @return: the decoded body.
        """
        response, body = self.request(method, path, headers)
        self.assertEqual(response.code, code, body)
        self.assertEqual(response.headers.getRawHeaders(b"content-type"), [b"application/json"])
        return json.loads(body)

    def getStats(self) -> dict[str, object]:
        """
        @return: the decoded C{GET /stats}.
        """
        document = self.requestJSON("GET", "/stats")
        assert isinstance(document, dict)
        return document

    def getDialog(self, dialogId: DialogId, code: int = 200) -> object:
        """
        @return: the decoded C{GET /dialogs/<id>}.
        """
        return self.requestJSON("GET", "/dialogs/" + encodeDialogId(dialogId), code)

    def scrape(self) -> dict[str, Metric]:
        """
        Fetch C{/metrics}, check its content type, and parse it.

        @return: the metric families by name.
        """
        response, body = self.request("GET", "/metrics")
        self.assertEqual(response.code, 200)
        self.assertEqual(
            response.headers.getRawHeaders(b"content-type"), [CONTENT_TYPE_LATEST.encode()]
        )
        return {
            family.name: family
            for family in text_string_to_metric_families(body.decode("utf-8"))
        }

    def sampleValue(self, families: dict[str, Metric], name: str) -> float:
        """
        @return: the value of the unlabelled sample C{name}.
        """
        [value] = [
            sample.value
            for family in families.values()
            for sample in family.samples
            if sample.name == name
        ]
        return value


class StatsTests(WebTestCase):
    """
    Tests for C{GET /stats}.
    """

    def test_countersAndGauges(self) -> None:
        """
        With stats enabled, C{/stats} holds C{"enabled": true}, every counter
        at its value, and the gauges C{active_dialogs} and C{timed_dialogs}.
        """
        self.addDialogs()
        self.stats.increment("expired_sst", 2)
        self.stats.increment("rejected_422", 3)
        self.stats.increment("requests_in", 5)
        self.stats.increment("dropped")
        document = self.getStats()
        expected: dict[str, object] = dict.fromkeys(COUNTERS, 0)
        expected.update(
            expired_sst=2,
            rejected_422=3,
            requests_in=5,
            dropped=1,
            enabled=True,
            active_dialogs=2,
            timed_dialogs=1,
        )
        self.assertEqual(document, expected)

    def test_live(self) -> None:
        """
        Each request reads the counters and the table as they are then.
        """
        self.getStats()
        self.stats.increment("parse_errors")
        self.addDialogs()
        document = self.getStats()
        self.assertEqual(
            (document["parse_errors"], document["active_dialogs"], document["timed_dialogs"]),
            (1, 2, 1),
        )
        self.dialogs.terminate(TIMED)
        document = self.getStats()
        self.assertEqual((document["active_dialogs"], document["timed_dialogs"]), (1, 0))

    def test_extra(self) -> None:
        """
        What C{extra} returns is added, read at each request; it cannot hide
        the counters, the gauges or C{enabled}.
        """
        calls: list[None] = []

        def extra() -> dict[str, object]:
            calls.append(None)
            return {
                "server_transactions": len(calls),
                "dropped": -1,
                "active_dialogs": -1,
                "enabled": "x",
            }

        self.serve(extra=extra)
        self.getStats()
        document = self.getStats()
        self.assertEqual(document["server_transactions"], 2)
        self.assertEqual(document["dropped"], 0)
        self.assertEqual(document["active_dialogs"], 0)
        self.assertIs(document["enabled"], True)

    def test_disabled(self) -> None:
        """
        With stats disabled (the seed's C{enable_stats=0}), C{/stats} is 200
        with C{"enabled": false} and the gauges only: no counters and no
        C{extra}.
        """
        self.stats = Stats(enabled=False)
        self.serve(extra=lambda: {"server_transactions": 7})
        self.addDialogs()
        self.assertEqual(
            self.getStats(), {"enabled": False, "active_dialogs": 2, "timed_dialogs": 1}
        )

    def test_trailingSlash(self) -> None:
        """
        C{/stats/} is C{/stats}.
        """
        self.assertEqual(self.requestJSON("GET", "/stats/"), self.getStats())

    def test_head(self) -> None:
        """
        C{HEAD /stats} answers like C{GET}, without the body.
        """
        response, body = self.request("HEAD", "/stats")
        self.assertEqual((response.code, body), (200, b""))
        self.assertEqual(response.headers.getRawHeaders(b"content-type"), [b"application/json"])

    def test_extraRaises(self) -> None:
        """
        When C{extra} raises, C{/stats} is a logged 500 with a JSON error.
        """

        def extra() -> dict[str, object]:
            raise Boom()

        self.serve(extra=extra)
        with capturedLogs() as events:
            document = self.requestJSON("GET", "/stats", 500)
        self.assertEqual(document, {"error": "internal error"})
        [failure] = [event for event in events if "log_failure" in event]
        self.assertEqual(failure["log_level"], LogLevel.critical)
        self.assertEqual(failure["method"], b"GET")
        self.assertEqual(len(self.flushLoggedErrors(Boom)), 1)

    def test_extraNotJSON(self) -> None:
        """
        When C{extra} returns what JSON cannot hold, C{/stats} is a logged 500.
        """
        self.serve(extra=lambda: {"thing": object()})
        self.assertEqual(
            self.requestJSON("GET", "/stats", 500), {"error": "internal error"}
        )
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)


class DialogListTests(WebTestCase):
    """
    Tests for C{GET /dialogs}.
    """

    def test_empty(self) -> None:
        """
        An empty table is an empty list.
        """
        self.assertEqual(self.requestJSON("GET", "/dialogs"), [])

    def test_list(self) -> None:
        """
        Each dialog is listed, oldest first, with its id, tags, state, timer,
        absolute times in clock seconds and C{expires_in} from now.
        """
        self.addDialogs()
        self.clock.advance(30)
        response, body = self.request("GET", "/dialogs")
        self.assertEqual(response.headers.getRawHeaders(b"x-total-count"), [b"2"])
        self.assertEqual(
            json.loads(body),
            [
                {
                    "id": encodeDialogId(TIMED),
                    "call_id": TIMED.callId,
                    "from_tag": TIMED.fromTag,
                    "to_tag": TIMED.toTag,
                    "state": "confirmed",
                    "interval": 90,
                    "refresher": "uac",
                    "refresher_party": "caller",
                    "created_at": 1000.0,
                    "expires_at": 1090.0,
                    "expires_in": 60.0,
                },
                {
                    "id": encodeDialogId(UNTIMED),
                    "call_id": UNTIMED.callId,
                    "from_tag": UNTIMED.fromTag,
                    "to_tag": UNTIMED.toTag,
                    "state": "early",
                    "interval": None,
                    "refresher": None,
                    "refresher_party": None,
                    "created_at": 1000.0,
                    "expires_at": 4600.0,
                    "expires_in": 3570.0,
                },
            ],
        )

    def test_trailingSlash(self) -> None:
        """
        C{/dialogs/} is C{/dialogs}.
        """
        self.addDialogs()
        self.assertEqual(
            self.requestJSON("GET", "/dialogs/"), self.requestJSON("GET", "/dialogs")
        )

    def test_limit(self) -> None:
        """
        C{?limit=N} lists the oldest N dialogs; C{X-Total-Count} still counts
        them all.
        """
        self.addDialogs()
        response, body = self.request("GET", "/dialogs?limit=1")
        self.assertEqual([d["call_id"] for d in json.loads(body)], [TIMED.callId])
        self.assertEqual(response.headers.getRawHeaders(b"x-total-count"), [b"2"])
        self.assertEqual(self.requestJSON("GET", "/dialogs?limit=0"), [])
        self.assertEqual(len(self.requestJSON("GET", f"/dialogs?limit={MAX_LIMIT}")), 2)

    def test_defaultLimit(self) -> None:
        """
        Without C{?limit}, at most L{DEFAULT_LIMIT} (1000) dialogs are listed.
        """
        self.assertEqual(DEFAULT_LIMIT, 1000)
        for i in range(DEFAULT_LIMIT + 1):
            self.dialogs.create(DialogId(f"call-{i}", "a", "b"))
        listed = self.requestJSON("GET", "/dialogs")
        assert isinstance(listed, list)
        self.assertEqual(len(listed), DEFAULT_LIMIT)
        self.assertEqual(listed[-1]["call_id"], f"call-{DEFAULT_LIMIT - 1}")

    def test_badLimit(self) -> None:
        """
        A C{limit} that is not a decimal integer from 0 to L{MAX_LIMIT}
        (100000) is a 400.
        """
        self.assertEqual(MAX_LIMIT, 100000)
        for limit in ["", "x", "-1", "+1", " 1", "1.5", "1_0", str(MAX_LIMIT + 1), "9" * 30]:
            document = self.requestJSON("GET", "/dialogs?limit=" + limit, 400)
            self.assertEqual(
                document, {"error": "limit must be an integer from 0 to 100000"}, limit
            )


class DialogTests(WebTestCase):
    """
    Tests for C{GET /dialogs/<id>} and the dialog ids.
    """

    def test_roundTrip(self) -> None:
        """
        The C{id} of a listed dialog names it in C{/dialogs/<id>}, which
        describes it as the list does.
        """
        self.addDialogs()
        listed = self.requestJSON("GET", "/dialogs")
        assert isinstance(listed, list)
        for entry in listed:
            self.assertEqual(self.requestJSON("GET", "/dialogs/" + entry["id"]), entry)
            self.assertEqual(
                decodeDialogId(entry["id"]),
                DialogId(entry["call_id"], entry["from_tag"], entry["to_tag"]),
            )

    def test_awkwardIds(self) -> None:
        """
        Call-IDs and tags with URL metacharacters and non-ASCII text still
        give URL-safe ids that name their dialog.
        """
        awkward = DialogId("a/b?c#d%20e+f=@[::1]", "t\xe9g;x", "\u263a ")
        self.dialogs.create(awkward)
        [entry] = self.requestJSON("GET", "/dialogs")
        self.assertRegex(entry["id"], URL_SAFE)
        self.assertEqual(self.requestJSON("GET", "/dialogs/" + entry["id"]), entry)
        self.assertEqual(
            (entry["call_id"], entry["from_tag"], entry["to_tag"]), tuple(awkward)
        )

    def test_unknown(self) -> None:
        """
        A well-formed id of no dialog is a 404.
        """
        self.addDialogs()
        self.assertEqual(
            self.getDialog(DialogId(TIMED.callId, TIMED.toTag, TIMED.fromTag), 404),
            {"error": "no such dialog"},
        )

    def test_malformed(self) -> None:
        """
        An id that is not what L{encodeDialogId} makes is a 404.
        """
        self.addDialogs()
        good = encodeDialogId(TIMED)
        for bad in ["!!", good + "==", good + "A", "YQ", "%2F" + good]:
            self.assertEqual(
                self.requestJSON("GET", "/dialogs/" + bad, 404), {"error": "no such dialog"}
            )

    def test_longerPath(self) -> None:
        """
        A path below a dialog, or an empty segment before it, is a 404.
        """
        self.addDialogs()
        good = encodeDialogId(TIMED)
        self.requestJSON("GET", "/dialogs/" + good + "/", 200)
        for path in ["/dialogs/" + good + "/x", "/dialogs//" + good]:
            self.assertEqual(self.requestJSON("GET", path, 404), {"error": "not found"})


class DialogIdTests(SynchronousTestCase):
    """
    Tests for L{encodeDialogId} and L{decodeDialogId}.
    """

    @propertySettings
    @given(st.text(), st.text(), st.text())
    def test_roundTrip(self, callId: str, fromTag: str, toTag: str) -> None:
        """
        Any identifier without NUL encodes to URL-safe characters (no
        padding) and decodes back, from text or bytes.
        """
        dialogId = DialogId(callId.replace("\0", ""), fromTag.replace("\0", ""), toTag)
        if "\0" in toTag:
            self.assertRaises(ValueError, decodeDialogId, encodeDialogId(dialogId))
            return
        encoded = encodeDialogId(dialogId)
        self.assertRegex(encoded, re.compile(r"[A-Za-z0-9_-]*\Z"))
        self.assertEqual(decodeDialogId(encoded), dialogId)
        self.assertEqual(decodeDialogId(encoded.encode("ascii")), dialogId)

    def test_example(self) -> None:
        """
        The id is the unpadded base64url of C{"callId\\0fromTag\\0toTag"}.
        """
        self.assertEqual(encodeDialogId(DialogId("a@b", "f", "t")), "YUBiAGYAdA")

    def test_rejects(self) -> None:
        """
        Padding, characters outside base64url, impossible lengths, trailing
        bits, non-ASCII text and a wrong number of parts are refused.
        """
        good = encodeDialogId(DialogId("a@b", "f", "t"))
        for bad in [
            good + "==",
            good.replace("Y", "+"),
            "YUBiAGYAdA" + "A",
            "YUBiAGYAdB",
            "\xe9",
            encodeDialogId(DialogId("a", "b", "c\0d")),
            "YQ",
        ]:
            self.assertRaises(ValueError, decodeDialogId, bad)


class DeleteTests(WebTestCase):
    """
    Tests for C{DELETE /dialogs/<id>}.
    """

    def delete(
        self, dialogId: DialogId, code: int, headers: Optional[dict[str, str]] = None
    ) -> object:
        """
        Delete a dialog and check the status.

        @return: the decoded body.
        """
        return self.requestJSON("DELETE", "/dialogs/" + encodeDialogId(dialogId), code, headers)

    def assertUntouched(self) -> None:
        """
        Both dialogs are still in the table.
        """
        self.assertEqual(len(self.dialogs), 2)
        self.assertEqual(self.recorder.terminated, [])

    def test_noTokenConfigured(self) -> None:
        """
        Without a configured token every C{DELETE} is a 403, even one with a
        bearer token.
        """
        self.addDialogs()
        for headers in [None, {"Authorization": "Bearer " + TOKEN.decode()}]:
            self.assertEqual(
                self.delete(TIMED, 403, headers), {"error": "no management token configured"}
            )
        self.assertUntouched()

    def test_missingToken(self) -> None:
        """
        Without C{Authorization}, C{DELETE} is a 401 with a Bearer challenge.
        """
        self.serve(token=TOKEN)
        self.addDialogs()
        response, body = self.request("DELETE", "/dialogs/" + encodeDialogId(TIMED))
        self.assertEqual(response.code, 401)
        self.assertEqual(json.loads(body), {"error": "missing or wrong bearer token"})
        self.assertEqual(
            response.headers.getRawHeaders(b"www-authenticate"), [b'Bearer realm="sst"']
        )
        self.assertUntouched()

    def test_wrongToken(self) -> None:
        """
        A wrong token, a prefix of the token, an empty one or another scheme
        is a 401, checked before the dialog is looked up.
        """
        self.serve(token=TOKEN)
        self.addDialogs()
        for value in [
            "Bearer wrong",
            "Bearer " + TOKEN.decode()[:-1],
            "Bearer " + TOKEN.decode() + "x",
            "Bearer ",
            "Basic " + TOKEN.decode(),
            TOKEN.decode(),
        ]:
            self.delete(TIMED, 401, {"Authorization": value})
            self.delete(UNTIMED._replace(callId="nosuch"), 401, {"Authorization": value})
        self.assertUntouched()

    def test_rightToken(self) -> None:
        """
        With the right token, the dialog is terminated with reason
        C{"admin"}, its timer cancelled, and described in the answer.
        """
        self.serve(token=TOKEN)
        self.addDialogs()
        expected = self.getDialog(TIMED)
        self.dialogs.terminate(UNTIMED)
        self.recorder.terminated.clear()
        document = self.delete(TIMED, 200, {"Authorization": "bearer " + TOKEN.decode()})
        self.assertEqual(document, {"terminated": expected})
        self.assertEqual(len(self.dialogs), 0)
        self.assertEqual(self.recorder.terminated, [(TIMED, "admin")])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.getDialog(TIMED, 404), {"error": "no such dialog"})

    def test_unknownDialog(self) -> None:
        """
        With the right token, deleting an unknown dialog is a 404.
        """
        self.serve(token=TOKEN)
        self.addDialogs()
        self.delete(
            UNTIMED._replace(callId="nosuch"), 404, {"Authorization": "Bearer " + TOKEN.decode()}
        )
        self.assertUntouched()

    def test_onDelete(self) -> None:
        """
        With C{onDelete}, an authorised C{DELETE} calls it with the dialog
        instead of terminating it.
        """
        deleted: list[Dialog] = []
        self.serve(token=TOKEN, onDelete=deleted.append)
        self.addDialogs()
        self.delete(TIMED, 200, {"Authorization": "Bearer " + TOKEN.decode()})
        self.assertEqual([dialog.id for dialog in deleted], [TIMED])
        self.assertUntouched()

    def test_onDeleteRaises(self) -> None:
        """
        When C{onDelete} raises, C{DELETE} is a logged 500.
        """

        def onDelete(dialog: Dialog) -> None:
            raise Boom()

        self.serve(token=TOKEN, onDelete=onDelete)
        self.addDialogs()
        self.assertEqual(
            self.delete(TIMED, 500, {"Authorization": "Bearer " + TOKEN.decode()}),
            {"error": "internal error"},
        )
        self.assertEqual(len(self.flushLoggedErrors(Boom)), 1)

    def test_badToken(self) -> None:
        """
        An empty token, or one with whitespace or other than visible ASCII,
        which no request could present, is refused when the resource is
        made.
        """
        for token in [b"", b" ", b"a b", b"abc\n", b"\tabc", b"t\xc3\xa9", b"a\x00"]:
            self.assertRaises(ValueError, self.serve, token=token)

    def test_collection(self) -> None:
        """
        C{DELETE /dialogs} is a 405.
        """
        self.serve(token=TOKEN)
        self.addDialogs()
        self.requestJSON("DELETE", "/dialogs", 405, {"Authorization": "Bearer " + TOKEN.decode()})
        self.assertUntouched()


class MetricsTests(WebTestCase):
    """
    Tests for C{GET /metrics}.
    """

    def test_values(self) -> None:
        """
        C{/metrics} exposes every counter as C{sst_<name>_total} and the
        dialog gauges, with their values at scrape time.
        """
        self.addDialogs()
        self.stats.increment("expired_sst", 2)
        self.stats.increment("rejected_422", 3)
        self.stats.increment("requests_in", 5)
        families = self.scrape()
        for name in COUNTERS:
            self.assertEqual(families["sst_" + name].type, "counter")
        self.assertEqual(self.sampleValue(families, "sst_expired_sst_total"), 2)
        self.assertEqual(self.sampleValue(families, "sst_rejected_422_total"), 3)
        self.assertEqual(self.sampleValue(families, "sst_requests_in_total"), 5)
        self.assertEqual(self.sampleValue(families, "sst_dropped_total"), 0)
        self.assertEqual(families["sst_active_dialogs"].type, "gauge")
        self.assertEqual(self.sampleValue(families, "sst_active_dialogs"), 2)
        self.assertEqual(self.sampleValue(families, "sst_timed_dialogs"), 1)
        self.assertEqual(
            families["sst_rejected_422"].documentation,
            "Requests rejected with 422 Session Interval Too Small",
        )

    def test_live(self) -> None:
        """
        Each scrape reads the stats and the table anew.
        """
        self.scrape()
        self.stats.increment("expired_sst")
        self.addDialogs()
        families = self.scrape()
        self.assertEqual(self.sampleValue(families, "sst_expired_sst_total"), 1)
        self.assertEqual(self.sampleValue(families, "sst_active_dialogs"), 2)

    def test_disabled(self) -> None:
        """
        With stats disabled, only the dialog gauges are exposed.
        """
        self.stats = Stats(enabled=False)
        self.serve(extra=lambda: {"server_transactions": 7})
        self.addDialogs()
        families = self.scrape()
        self.assertEqual(sorted(families), ["sst_active_dialogs", "sst_timed_dialogs"])
        self.assertEqual(self.sampleValue(families, "sst_timed_dialogs"), 1)

    def test_extra(self) -> None:
        """
        Numeric C{extra} values become C{sst_<name>} gauges; others, and
        names that clash, are left out.
        """
        self.serve(
            extra=lambda: {
                "server_transactions": 4,
                "load": 0.5,
                "flag": True,
                "label": "x",
                "active_dialogs": 99,
            }
        )
        families = self.scrape()
        self.assertEqual(families["sst_server_transactions"].type, "gauge")
        self.assertEqual(self.sampleValue(families, "sst_server_transactions"), 4)
        self.assertEqual(self.sampleValue(families, "sst_load"), 0.5)
        self.assertEqual(self.sampleValue(families, "sst_active_dialogs"), 0)
        self.assertNotIn("sst_flag", families)
        self.assertNotIn("sst_label", families)

    def test_everyCounterExported(self) -> None:
        """
        Every registered counter is exported under its own name, as a counter with
        C{_total}.
        """
        families = self.scrape()
        for name in COUNTERS:
            self.assertEqual(self.sampleValue(families, f"sst_{name}_total"), 0, name)

    def test_privateRegistry(self) -> None:
        """
        Each resource has its own registry: making several works, and the
        global registry gains nothing.
        """
        before = set(REGISTRY._names_to_collectors)
        self.serve()
        self.serve()
        self.assertEqual(set(REGISTRY._names_to_collectors), before)
        self.assertIn("sst_active_dialogs", self.scrape())

    def test_wrongMethod(self) -> None:
        """
        C{POST /metrics} is a JSON 405 allowing C{GET} and C{HEAD}.
        """
        response, body = self.request("POST", "/metrics")
        self.assertEqual(response.code, 405)
        self.assertEqual(response.headers.getRawHeaders(b"allow"), [b"GET, HEAD"])
        self.assertEqual(json.loads(body), {"error": "method not allowed"})


class RoutingTests(WebTestCase):
    """
    Tests for unknown paths and methods.
    """

    def test_unknownPaths(self) -> None:
        """
        The root, unknown paths and paths below the leaf endpoints are JSON
        404s, whatever the method.
        """
        for method in ["GET", "DELETE", "POST"]:
            for path in ["/", "/nope", "/stats/x", "/metrics/x", "/nope/stats"]:
                self.assertEqual(
                    self.requestJSON(method, path, 404), {"error": "not found"}, (method, path)
                )

    def test_wrongMethods(self) -> None:
        """
        Other methods on known paths are JSON 405s with an C{Allow} header.
        """
        self.addDialogs()
        item = "/dialogs/" + encodeDialogId(TIMED)
        for method, path, allowed in [
            ("POST", "/stats", b"GET, HEAD"),
            ("DELETE", "/stats", b"GET, HEAD"),
            ("PUT", "/dialogs", b"GET, HEAD"),
            ("PUT", item, b"DELETE, GET, HEAD"),
        ]:
            response, body = self.request(method, path)
            self.assertEqual(response.code, 405, (method, path))
            self.assertEqual(response.headers.getRawHeaders(b"allow"), [allowed])
            self.assertEqual(
                response.headers.getRawHeaders(b"content-type"), [b"application/json"]
            )
            self.assertEqual(json.loads(body), {"error": "method not allowed"})


class SocketTests(TestCase):
    """
    The API over a real loopback socket.
    """

    @inlineCallbacks
    def test_stats(self) -> Generator[Deferred[Any], Any, None]:
        """
        A L{Site} serving the resource on 127.0.0.1 answers C{GET /stats}
        with JSON.
        """
        import treq
        from twisted.internet import reactor as globalReactor

        # Provides IReactorTCP and all treq needs, which Twisted's and
        # treq's annotations do not let one type say.
        reactor: Any = globalReactor
        clock = Clock()
        stats = Stats()
        stats.increment("requests_in", 2)
        dialogs = DialogTable(clock)
        dialogs.create(TIMED, interval=90, lifetime=90)
        port = reactor.listenTCP(
            0, Site(makeResource(stats, dialogs, clock)), interface="127.0.0.1"
        )
        self.addCleanup(port.stopListening)
        address = port.getHost()
        assert isinstance(address, IPv4Address)
        url = f"http://127.0.0.1:{address.port}/stats"
        response = yield treq.get(url, reactor=reactor, persistent=False)
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders(b"content-type"), [b"application/json"])
        document = yield response.json()
        self.assertEqual(
            (document["requests_in"], document["active_dialogs"], document["timed_dialogs"]),
            (2, 1, 1),
        )
        dialogs.terminate(TIMED)
        self.assertEqual(clock.getDelayedCalls(), [])
