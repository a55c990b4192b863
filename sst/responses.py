# -*- test-case-name: sst.test.test_responses -*-
"""
Building the response a server sends to a request (RFC 3261 section 8.2.6.2).
"""

from __future__ import annotations

from typing import Optional

from sst.headers import SIPParseError
from sst.message import Request, Response

__all__ = ["makeResponse"]

def makeResponse(
    request: Request, code: int, phrase: str = "", toTag: Optional[str] = None
) -> Response:
    """
    Build a response to C{request} with the headers RFC 3261 section 8.2.6.2
    requires: every Via line in order, From, To, Call-ID and CSeq, and a
    C{Content-Length} of 0.

    Headers absent from the request are left out, so that a response can be
    built for a partly parsed request.

    @param request: the request answered.
    @param code: the status code.
    @param phrase: the reason phrase; empty for the usual phrase of C{code}.
    @param toTag: a tag to add to the To header when it has none (RFC 3261
        section 8.2.6.2); L{None} to copy the To header unchanged.
    @return: the response, without a body.
    """
    response = Response(code, phrase)
    # The lines are copied as they are written in the request.
    response.copyLines(request, "via", every=True)
    if toTag is not None and _hasNoTag(request):
        response.copyLines(request, "from")
        response.appendHeader("to", "%s;tag=%s" % (request.header("to"), toTag))
        response.copyLines(request, "call-id")
        response.copyLines(request, "cseq")
    else:
        response.copyFirstLines(request, _COPIED)
    response.appendHeader("content-length", "0")
    return response


#: The lines a response copies, after the Vias, when it adds no To tag.
_COPIED = ("from", "to", "call-id", "cseq")


def _hasNoTag(request: Request) -> bool:
    """
    @return: whether the To header of C{request} parses and has no tag.
    """
    try:
        return request.toAddr().tag is None
    except SIPParseError:
        return False
