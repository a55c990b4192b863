"""
Tests for L{sst.ownership}.
"""
from __future__ import annotations

import zlib

from hypothesis import given, strategies as st
from twisted.trial.unittest import TestCase

from sst.message import parse
from sst.ownership import SINGLE, Ownership, ownerOf, rawCallId

MESSAGE = (
    b"INVITE sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1\r\n"
    b"From: <sip:alice@example.com>;tag=a\r\n"
    b"To: <sip:bob@example.com>\r\n"
    b"%s\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Content-Length: 0\r\n\r\n"
)


class RawCallIdTests(TestCase):
    """
    L{rawCallId} reads the Call-ID off the raw bytes, as the parser would.
    """

    def test_fullName(self) -> None:
        self.assertEqual(rawCallId(MESSAGE % b"Call-ID: abc@host"), b"abc@host")

    def test_compactAndCase(self) -> None:
        self.assertEqual(rawCallId(MESSAGE % b"i:abc@host"), b"abc@host")
        self.assertEqual(rawCallId(MESSAGE % b"CALL-id \t:  abc@host  "), b"abc@host")

    def test_notInBody(self) -> None:
        """
        A Call-ID line in the body is not the message's.
        """
        data = MESSAGE.replace(b"Content-Length: 0", b"Content-Length: 15") % b"X-A: 1"
        self.assertIsNone(rawCallId(data + b"Call-ID: x\r\n\r\n"))

    def test_missing(self) -> None:
        self.assertIsNone(rawCallId(MESSAGE % b"X-Call-ID: abc"))

    def test_bareLineFeeds(self) -> None:
        self.assertEqual(rawCallId((MESSAGE % b"i: q").replace(b"\r\n", b"\n")), b"q")

    @given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7e), min_size=1,
                   max_size=40),
           st.sampled_from([b"Call-ID: ", b"i:", b"call-id :\t"]))
    def test_matchesParser(self, callId: str, name: bytes) -> None:
        """
        The raw Call-ID is the parsed one's bytes, so both give the same owner.
        """
        data = MESSAGE % (name + callId.encode("ascii"))
        self.assertEqual(rawCallId(data), parse(data).callId.encode("latin-1"))


class OwnershipTests(TestCase):
    """
    L{Ownership} and L{ownerOf}.
    """

    def test_stableHash(self) -> None:
        self.assertEqual(ownerOf(b"abc", 3), zlib.crc32(b"abc") % 3)
        self.assertEqual(Ownership(1, 3).ownerOfMessage(MESSAGE % b"i: abc"), ownerOf(b"abc", 3))

    def test_noCallId(self) -> None:
        self.assertIsNone(Ownership(0, 2).ownerOfMessage(MESSAGE % b"X: y"))

    def test_spread(self) -> None:
        """
        Call-IDs spread over the workers about evenly.
        """
        counts = [0, 0, 0, 0]
        for n in range(4000):
            counts[ownerOf(b"%d@127.0.0.1" % n, 4)] += 1
        self.assertTrue(all(800 < c < 1200 for c in counts), counts)

    def test_single(self) -> None:
        self.assertTrue(SINGLE.owns("anything"))

    def test_newCallIdOwned(self) -> None:
        """
        A Call-ID a worker makes hashes to it.
        """
        for index in range(3):
            ownership = Ownership(index, 3)
            for _ in range(20):
                callId = ownership.newCallId("127.0.0.1")
                self.assertTrue(callId.endswith("@127.0.0.1"))
                self.assertEqual(ownerOf(callId.encode("latin-1"), 3), index)

    def test_badIndex(self) -> None:
        self.assertRaises(ValueError, Ownership, 2, 2)
        self.assertRaises(ValueError, Ownership, 0, 0)
