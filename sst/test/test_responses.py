# -*- test-case-name: sst.test.test_responses -*-
"""
Tests for L{sst.responses}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from sst.message import Request, Response, parse
from sst.responses import makeResponse

_OPTIONS = (
    b"OPTIONS sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa1, SIP/2.0/TCP 192.0.2.2;branch=z9hG4bKb1\r\n"
    b"Max-Forwards: 69\r\n"
    b"From: Alice <sip:alice@example.com>;tag=1928\r\n"
    b"To: <sip:bob@example.com>\r\n"
    b"Call-ID: a84b4c76e66710\r\n"
    b"CSeq: 63104 OPTIONS\r\n"
    b"Contact: <sip:alice@192.0.2.1>\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Length: 5\r\n"
    b"\r\n"
    b"hello"
)


def _request(data: bytes = _OPTIONS) -> Request:
    message = parse(data)
    assert isinstance(message, Request)
    return message


class MakeResponseTests(SynchronousTestCase):
    """
    Tests for L{makeResponse}.
    """

    def test_copiesViasInOrder(self) -> None:
        """
        Every Via line of the request is copied, in order, combined lines
        kept combined.
        """
        response = makeResponse(_request(), 200)
        self.assertEqual(
            [value for key, value in response.iterHeaders() if key == "via"],
            [
                "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1",
                "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa1, "
                "SIP/2.0/TCP 192.0.2.2;branch=z9hG4bKb1",
            ],
        )
        self.assertEqual(
            [via.branch for via in response.vias()],
            ["z9hG4bKp1", "z9hG4bKa1", "z9hG4bKb1"],
        )

    def test_copiesDialogHeaders(self) -> None:
        """
        From, To, Call-ID and CSeq are copied unchanged; other headers and
        the body are not, and Content-Length is 0.
        """
        response = makeResponse(_request(), 486)
        self.assertEqual(
            [key for key, value in response.iterHeaders()],
            ["via", "via", "from", "to", "call-id", "cseq", "content-length"],
        )
        self.assertEqual(response.header("from"), "Alice <sip:alice@example.com>;tag=1928")
        self.assertEqual(response.header("to"), "<sip:bob@example.com>")
        self.assertEqual(response.header("call-id"), "a84b4c76e66710")
        self.assertEqual(response.header("cseq"), "63104 OPTIONS")
        self.assertEqual(response.header("content-length"), "0")
        self.assertEqual(response.body, b"")

    def test_defaultPhrase(self) -> None:
        """
        Without a phrase, the response has the usual phrase of its code.
        """
        response = makeResponse(_request(), 404)
        self.assertEqual((response.code, response.phrase), (404, "Not Found"))

    def test_phrase(self) -> None:
        """
        A given phrase is used.
        """
        response = makeResponse(_request(), 423, "Interval Too Brief")
        self.assertEqual(response.startLine(), "SIP/2.0 423 Interval Too Brief")

    def test_addsToTag(self) -> None:
        """
        With C{toTag}, a To header without a tag gets one.
        """
        response = makeResponse(_request(), 200, toTag="abc123")
        self.assertEqual(response.header("to"), "<sip:bob@example.com>;tag=abc123")
        self.assertEqual(response.toTag, "abc123")

    def test_keepsExistingToTag(self) -> None:
        """
        With C{toTag}, a To header that has a tag keeps it.
        """
        data = _OPTIONS.replace(
            b"To: <sip:bob@example.com>", b"To: <sip:bob@example.com>;tag=old"
        )
        response = makeResponse(_request(data), 200, toTag="new")
        self.assertEqual(response.toTag, "old")

    def test_addrSpecToTag(self) -> None:
        """
        A To header in addr-spec form gets the tag as a header parameter.
        """
        data = _OPTIONS.replace(b"To: <sip:bob@example.com>", b"To: sip:bob@example.com")
        response = makeResponse(_request(data), 200, toTag="t1")
        self.assertEqual(response.header("to"), "sip:bob@example.com;tag=t1")
        self.assertEqual(response.toAddr().uri.params, {})
        self.assertEqual(response.toTag, "t1")

    def test_noToTag(self) -> None:
        """
        Without C{toTag}, the To header is copied as it is.
        """
        response = makeResponse(_request(), 200)
        self.assertIsNone(response.toTag)

    def test_missingHeaders(self) -> None:
        """
        Headers the request lacks are left out of the response.
        """
        response = makeResponse(Request("OPTIONS", "sip:x@example.com"), 400, toTag="t")
        self.assertEqual([key for key, value in response.iterHeaders()], ["content-length"])

    def test_unparsableTo(self) -> None:
        """
        A To header that does not parse is copied without a tag.
        """
        request = Request("OPTIONS", "sip:x@example.com")
        request.addHeader("To", "<sip:bob@example.com")
        response = makeResponse(request, 400, toTag="t")
        self.assertEqual(response.header("to"), "<sip:bob@example.com")

    def test_serialises(self) -> None:
        """
        The response serialises to a message that parses back.
        """
        response = makeResponse(_request(), 200, toTag="x")
        parsed = parse(response.toBytes())
        assert isinstance(parsed, Response)
        self.assertEqual((parsed.code, parsed.toTag, parsed.body), (200, "x", b""))
        self.assertEqual(parsed.callId, "a84b4c76e66710")
