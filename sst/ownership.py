# -*- test-case-name: sst.test.test_ownership -*-
"""
Which worker owns a message (C{--workers N}).

Every dialog and transaction belongs to one worker, chosen by a stable hash of its Call-ID:
CRC-32 of the Call-ID's bytes, modulo the number of workers.  The hash is read straight off
the raw message (L{rawCallId}), full name or compact C{i:}, without parsing it, so that a
worker can hand a datagram it does not own to its owner cheaply.  Call-IDs that sst makes
itself (B2BUA B-legs) are drawn until they hash to the worker that makes them
(L{Ownership.newCallId}): replies to them land on their owner with no hand-off.
"""
from __future__ import annotations

import re
import secrets
import zlib
from dataclasses import dataclass
from typing import Optional

__all__ = ["Ownership", "ownerOf", "rawCallId", "SINGLE"]

#: The Call-ID header, full or compact, in a header block: its value without the spaces
#: around it.  Only the first line of a folded value counts (it is the whole Call-ID in
#: every message a UA sends; a folded one still hashes the same way on every worker).
_CALL_ID = re.compile(rb"\n(?:[Cc][Aa][Ll][Ll]-[Ii][Dd]|[Ii])[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?\n")


def rawCallId(data: bytes) -> Optional[bytes]:
    """
    @param data: a whole SIP message as it arrived.
    @return: the value of its first Call-ID header, as bytes; L{None} when its header block
        has none.
    """
    end = data.find(b"\r\n\r\n")
    head = data if end < 0 else data[: end + 2]
    match = _CALL_ID.search(head)
    if match is None:
        return None
    return match.group(1)


def ownerOf(callId: bytes, workers: int) -> int:
    """
    @param callId: a Call-ID's bytes (a parsed Call-ID is text in latin-1: encode it back).
    @param workers: how many workers share the work.
    @return: the index of the worker that owns the Call-ID, from 0 to C{workers - 1}.
    """
    return zlib.crc32(callId) % workers


@dataclass(frozen=True)
class Ownership:
    """
    One worker's place among the workers.

    @ivar index: this worker's number, from 0.
    @ivar workers: how many workers there are.
    """

    index: int = 0
    workers: int = 1

    def __post_init__(self) -> None:
        if self.workers < 1 or not 0 <= self.index < self.workers:
            raise ValueError("need 0 <= index < workers")

    def ownerOfMessage(self, data: bytes) -> Optional[int]:
        """
        @param data: a raw SIP message.
        @return: the worker that owns it, or L{None} when it has no Call-ID (whoever received
            it answers or drops it).
        """
        callId = rawCallId(data)
        if callId is None:
            return None
        return zlib.crc32(callId) % self.workers

    def owns(self, callId: str) -> bool:
        """
        @param callId: a parsed Call-ID.
        @return: whether this worker owns it.
        """
        return self.workers == 1 or ownerOf(callId.encode("latin-1", "replace"),
                                            self.workers) == self.index

    def newCallId(self, host: str) -> str:
        """
        @param host: the host part (one of our addresses).
        @return: a new, globally unique Call-ID that this worker owns: random ones are drawn
            until one hashes here (C{workers} draws on average).
        """
        while True:
            callId = "%s@%s" % (secrets.token_hex(10), host)
            if self.owns(callId):
                return callId


#: The ownership of a single process: it owns everything.
SINGLE = Ownership()
