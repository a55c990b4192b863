# -*- test-case-name: sst.test.test_web,sst.test.test_workerweb -*-
"""
What the operations API (L{sst.web}) and the workers' aggregate of it
(L{sst.workerweb}) share: JSON answers, dispatch on the method, the 404
resources, the bearer token check and the C{?limit} of C{GET /dialogs}.
"""

from __future__ import annotations

import hmac
import json
import re
from typing import Callable, Mapping, Optional
from urllib.parse import parse_qs, urlsplit

from twisted.logger import Logger
from twisted.web.resource import IResource, Resource
from twisted.web.server import Request

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "JSON",
    "Handler",
    "respond",
    "jsonAnswer",
    "errorAnswer",
    "bearerAuthorized",
    "parseLimit",
    "refuseDelete",
    "metricName",
    "MethodDispatch",
    "NotFound",
    "Root",
]

#: How many dialogs C{GET /dialogs} lists without C{?limit}.
DEFAULT_LIMIT = 1000

#: The largest C{?limit} C{GET /dialogs} accepts.
MAX_LIMIT = 100000

#: The content type of every answer but C{/metrics}.
JSON = b"application/json"

_DIGITS = re.compile(rb"[0-9]{1,9}")
_NOT_METRIC_CHARACTER = re.compile(r"[^a-zA-Z0-9_:]")

#: Answers a request: the body, or C{NOT_DONE_YET} when it answers later.
Handler = Callable[[Request], bytes | int]


def respond(request: Request, code: int, body: bytes, contentType: bytes = JSON) -> bytes:
    """
    Set the status and headers of a response.

    @return: C{body}, or nothing for a C{HEAD} request (whose
        C{Content-Length} is still C{body}'s).
    """
    request.setResponseCode(code)
    headers = request.responseHeaders
    headers.setRawHeaders(b"content-type", [contentType])
    headers.setRawHeaders(b"cache-control", [b"no-store"])
    if request.method == b"HEAD":
        headers.setRawHeaders(b"content-length", [b"%d" % (len(body),)])
        return b""
    return body


def jsonAnswer(request: Request, code: int, document: object) -> bytes:
    """
    Answer with C{document} as JSON.

    @raise ValueError: if C{document} holds NaN or an infinity.
    @raise TypeError: if C{document} holds what JSON cannot represent.
    """
    body = json.dumps(document, sort_keys=True, allow_nan=False).encode("ascii")
    return respond(request, code, body + b"\n")


def errorAnswer(request: Request, code: int, message: str) -> bytes:
    """
    Answer with the JSON error C{{"error": message}}.
    """
    return jsonAnswer(request, code, {"error": message})


def bearerAuthorized(request: Request, token: bytes) -> bool:
    """
    @return: whether C{request} carries C{Authorization: Bearer <token>}.
    """
    header = request.getHeader(b"authorization")
    if header is None:
        return False
    scheme, _, credentials = header.strip().partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    return hmac.compare_digest(credentials.strip(), token)


def refuseDelete(request: Request, token: Optional[bytes]) -> Optional[bytes]:
    """
    Check that C{request} may end a dialog.

    @param token: the configured bearer token, or L{None} to refuse every
        C{DELETE}.
    @return: the answer that refuses C{request}: 403 without a configured
        token, 401 with a Bearer challenge when C{request} lacks it; or
        L{None} when C{request} presents it.
    """
    if token is None:
        return errorAnswer(request, 403, "no management token configured")
    if not bearerAuthorized(request, token):
        request.responseHeaders.setRawHeaders(b"www-authenticate", [b'Bearer realm="sst"'])
        return errorAnswer(request, 401, "missing or wrong bearer token")
    return None


def parseLimit(request: Request) -> int:
    """
    @return: the C{?limit} of C{request} (the last one given), or
        L{DEFAULT_LIMIT} without one.
    @raise ValueError: if it is not a decimal integer from 0 to L{MAX_LIMIT};
        its message is the answer's error.
    """
    query = parse_qs(urlsplit(request.uri).query, keep_blank_values=True)
    values = query.get(b"limit")
    if not values:
        return DEFAULT_LIMIT
    text = values[-1]
    if _DIGITS.fullmatch(text) is None or int(text) > MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 0 to {MAX_LIMIT}")
    return int(text)


def metricName(name: str) -> str:
    """
    @return: C{name} made a valid Prometheus metric name, prefixed C{sst_}.
    """
    return "sst_" + _NOT_METRIC_CHARACTER.sub("_", name)


class MethodDispatch(Resource):
    """
    A leaf resource that dispatches on the method through a table of
    handlers, answers 404 to a longer path and 405 to another method, and
    turns any exception into a logged 500.

    @ivar handlers: the handler for each method; C{HEAD} uses C{GET}'s.
    """

    isLeaf = True
    _log = Logger()

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.handlers: Mapping[bytes, Handler] = {}

    def render(self, request: Request) -> bytes | int:
        """
        Answer C{request}.  Never raises.
        """
        try:
            if request.postpath not in ([], [b""]):
                return errorAnswer(request, 404, "not found")
            method = b"GET" if request.method == b"HEAD" else request.method
            handler = self.handlers.get(method)
            if handler is None:
                allowed = sorted(self.handlers)
                if b"GET" in self.handlers:
                    allowed.append(b"HEAD")
                request.responseHeaders.setRawHeaders(b"allow", [b", ".join(allowed)])
                return errorAnswer(request, 405, "method not allowed")
            return handler(request)
        except Exception:
            self._log.failure(
                "Operations API failed on {method} {uri}",
                method=request.method,
                uri=request.uri,
            )
            return self.internalError(request)

    def internalError(self, request: Request) -> bytes:
        """
        Answer 500 after an unexpected error.  Never raises.
        """
        try:
            return errorAnswer(request, 500, "internal error")
        except Exception:
            self._log.failure("Operations API could not report an error")
            return b""


class NotFound(MethodDispatch):
    """
    Answers 404 to everything.
    """

    def render(self, request: Request) -> bytes:
        """
        Answer 404.
        """
        try:
            return errorAnswer(request, 404, "not found")
        except Exception:
            self._log.failure("Operations API could not report an error")
            return b""


class Root(Resource):
    """
    The root: a 404 itself, and for any path but its children.
    """

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._notFound = NotFound()

    def getChild(self, path: bytes, request: Request) -> IResource:
        """
        @return: a 404 for any path but the known children.
        """
        return self._notFound

    def render(self, request: Request) -> bytes:
        """
        Answer 404: the root itself is no endpoint.
        """
        return self._notFound.render(request)
