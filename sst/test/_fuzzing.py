# -*- test-case-name: sst.test.test_fuzz -*-
"""
What the torture and fuzz tests (and C{bench/fuzz_run.py}) share: a harness that records
what it sends even when it cannot be parsed again, the seed messages, the mutations made to
them, and the scenarios that carry a mutated message through the whole proxy.

A mutation is plain data (L{Mutation}), so that Hypothesis can build and shrink it in the
tests and C{random} can build a million of them quickly in the benchmark.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from random import Random
from typing import Callable, Optional

from sst.address import Address
from sst.headers import SIPParseError
from sst.message import Request, Response, parse
from sst.protocol import ConnectFailed
from sst.routing import DNSRouter
from sst.testing import CALLEE, ProxyHarness

__all__ = [
    "TortureHarness",
    "Mutation",
    "KINDS",
    "INSERTS",
    "NUMBERS",
    "Seed",
    "SEEDS",
    "randomMutation",
    "mutateAll",
    "runScenario",
    "settle",
]

#: The torture corpus.
CORPUS = os.path.join(os.path.dirname(__file__), "data", "torture")


class TortureHarness(ProxyHarness):
    """
    A L{ProxyHarness} that records the bytes it sends, even a response it cannot parse again
    (a 400 to a request without From carries no From), and that uses no DNS: requests for
    host names are recorded as sent to the host name.

    @ivar wire: every (bytes, address) sent, oldest first.
    @ivar unparsable: every (bytes, address, error) sent that does not parse again; the
        partly parsed message, if any, is also in C{sent}.
    """

    def __init__(self, args: Optional[list[str]] = None) -> None:
        self.wire: list[tuple[bytes, Address]] = []
        self.unparsable: list[tuple[bytes, Address, SIPParseError]] = []
        super().__init__(args)
        self.service.proxy.uriRouter = DNSRouter(None)

    def _record(self, data: bytes, address: Address,
                connectFailed: Optional[ConnectFailed] = None) -> None:
        self.wire.append((data, address))
        try:
            message = parse(data)
        except SIPParseError as e:
            self.unparsable.append((data, address, e))
            if not isinstance(e.message, (Request, Response)):
                return
            message = e.message
        self.sent.append((message, address))

    def sentGarbage(self) -> list[tuple[bytes, Address, SIPParseError]]:
        """
        @return: what was sent and is worse than a response carrying on a broken header it was
            given (which a proxy may do: RFC 3261 section 16.3 step 1): any request that does
            not parse again, and any response whose status line does not.
        """
        return [(data, address, error) for data, address, error in self.unparsable
                if not isinstance(error.message, Response)]

    def deliver(self, data: bytes) -> None:
        """
        Deliver a request from the caller, or a response from the callee.
        """
        if data.lstrip(b"\r\n").startswith(b"SIP/"):
            self.fromCallee(data)
        else:
            self.fromCaller(data)

    def requests(self) -> list[tuple[Request, Address]]:
        """
        @return: every request the proxy sent, with where it went.
        """
        return [(m, a) for m, a in self.sent if isinstance(m, Request)]


# -- mutations ---------------------------------------------------------------------------

#: Bytes worth inserting: separators, blanks, line ends, quotes, NUL, high octets.
INSERTS = [b"\x00", b"\xb2", b"\xff", b"\xc3\xa9", b" ", b"\t", b"\r", b"\n", b"\r\n", b"\r\n ",
           b"\r\n\r\n", b";", b",", b"=", b'"', b"<", b">", b":", b"[", b"]", b"@", b"\\", b"/",
           b"?", b"%", b"%00", b"-", b"0", b";tag=", b";branch=z9hG4bK", b";rport", b";lr",
           b";refresher=", b"sip:", b"SIP/2.0", b"\r\nVia: SIP/2.0/UDP 10.0.0.1", b"\r\nRoute: <sip:x>",
           b"\r\nContent-Length: 99", b"\r\nx: 90", b"\r\nMin-SE: 1"]

#: Numbers to put in place of a number: huge, overflowing, negative, zero, padded, and
#: non-ASCII digits (superscript two, Arabic-Indic, fullwidth, Devanagari).
NUMBERS = [b"0", b"-1", b"-1800", b"1", b"89", b"90", b"65535", b"65536", b"2147483647",
           b"2147483648", b"4294967295", b"4294967296", b"99999999999", b"9" * 40, b"9" * 5000,
           b"0" * 30 + b"1", b"1e3", b"0x10", b"+5", b"\xc2\xb2",
           "\u0661\u0668\u0660\u0660".encode("utf-8"), "\uff11\uff18\uff10\uff10".encode("utf-8"),
           "\u0967\u096e".encode("utf-8"), b"1800.5", b""]

#: The mutation kinds.
KINDS = ("flip", "insert", "delete", "duplicate", "remove", "swap", "number", "truncate", "case")

_DIGITS = re.compile(rb"[0-9]+")


def _splitHead(message: bytes) -> tuple[list[bytes], bytes]:
    """
    @return: the lines of the header block (start line first) and the rest (the empty line
        and the body), so that C{b"\\r\\n".join(lines) + rest} is C{message}.
    """
    end = message.find(b"\r\n\r\n")
    if end < 0:
        return message.split(b"\r\n"), b""
    return message[:end].split(b"\r\n"), message[end:]


@dataclass(frozen=True)
class Mutation:
    """
    One change to a message's bytes. Positions and indices are taken modulo what there is,
    so any integers make a valid mutation.

    @ivar kind: one of L{KINDS}:
        - C{flip}: the byte at C{at} becomes C{data} (a single byte);
        - C{insert}: C{data} goes in at C{at};
        - C{delete}: C{other} bytes (1 to 64) go from C{at};
        - C{duplicate} / C{remove}: header line C{at} is doubled / taken out;
        - C{swap}: the values of header lines C{at} and C{other} are exchanged;
        - C{number}: the C{at}-th run of digits becomes C{data};
        - C{truncate}: the message ends at C{at};
        - C{case}: the letters of header line C{at}'s name change case where the bits of
          C{other} are set.
    """

    kind: str
    at: int
    other: int = 0
    data: bytes = b""

    def apply(self, message: bytes) -> bytes:
        """
        @return: C{message} with this change made.
        """
        kind = self.kind
        size = len(message)
        if kind == "flip":
            if not size:
                return message
            at = self.at % size
            return message[:at] + self.data[:1] + message[at + 1 :]
        if kind == "insert":
            at = self.at % (size + 1)
            return message[:at] + self.data + message[at:]
        if kind == "delete":
            at = self.at % (size + 1)
            return message[:at] + message[at + 1 + self.other % 64 :]
        if kind == "truncate":
            return message[: self.at % (size + 1)]
        if kind == "number":
            runs = list(_DIGITS.finditer(message))
            if not runs:
                return message
            run = runs[self.at % len(runs)]
            return message[: run.start()] + self.data + message[run.end() :]
        lines, rest = _splitHead(message)
        if len(lines) < 2:
            return message
        i = 1 + self.at % (len(lines) - 1)
        if kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "remove":
            del lines[i]
        elif kind == "swap":
            j = 1 + self.other % (len(lines) - 1)
            a, b = lines[i], lines[j]
            if b":" in a and b":" in b:
                nameA, _, valueA = a.partition(b":")
                nameB, _, valueB = b.partition(b":")
                lines[i], lines[j] = nameA + b":" + valueB, nameB + b":" + valueA
        elif kind == "case":
            name, colon, value = lines[i].partition(b":")
            changed = bytes(
                c ^ 0x20 if (self.other >> (k % 60)) & 1 and (65 <= c <= 90 or 97 <= c <= 122) else c
                for k, c in enumerate(name)
            )
            lines[i] = changed + colon + value
        return b"\r\n".join(lines) + rest


def mutateAll(message: bytes, mutations: list[Mutation]) -> bytes:
    """
    @return: C{message} with every mutation made, in order.
    """
    for mutation in mutations:
        message = mutation.apply(message)
    return message


def randomMutation(rng: Random) -> Mutation:
    """
    @return: a mutation drawn from C{rng}, with the same kinds and values the Hypothesis
        strategies of L{sst.test.test_fuzz} draw.
    """
    kind = rng.choice(KINDS)
    at = rng.randrange(1 << 16)
    other = rng.randrange(1 << 62)
    data = b""
    if kind == "flip":
        data = bytes([rng.randrange(256)])
    elif kind == "insert":
        data = rng.choice(INSERTS) if rng.random() < 0.7 else rng.randbytes(rng.randrange(1, 9))
    elif kind == "number":
        data = rng.choice(NUMBERS)
    return Mutation(kind, at, other, data)


# -- seeds and scenarios -----------------------------------------------------------------


@dataclass(frozen=True)
class Seed:
    """
    A message to mutate, and how it reaches the proxy.

    @ivar name: for reports.
    @ivar kind: C{"request"} / C{"response"} (a corpus message, from the caller / callee, on
        a fresh proxy), C{"invite"} (an initial INVITE with session timers), C{"ok"} (the
        callee's 2xx to a forwarded INVITE), or C{"bye"}, C{"update"}, C{"reinvite"} (an
        in-dialog request from the caller, once a call is up).
    @ivar data: the corpus message, for C{request} and C{response}.
    """

    name: str
    kind: str
    data: bytes = b""


def _corpusSeeds() -> list[Seed]:
    seeds: list[Seed] = []
    directory = os.path.join(CORPUS, "valid")
    for name in sorted(os.listdir(directory)):
        if name.endswith(".sip"):
            with open(os.path.join(directory, name), "rb") as f:
                data = f.read()
            kind = "response" if data.startswith(b"SIP/") else "request"
            seeds.append(Seed("valid/" + name, kind, data))
    return seeds


#: The corpus' valid messages, then a standard INVITE, 200 and in-dialog requests.
SEEDS: list[Seed] = _corpusSeeds() + [
    Seed("INVITE", "invite"),
    Seed("200 to INVITE", "ok"),
    Seed("BYE", "bye"),
    Seed("UPDATE", "update"),
    Seed("re-INVITE", "reinvite"),
]

_SESSION = ("Session-Expires: 1800;refresher=uac", "Min-SE: 90")


def _answerForwarded(h: TortureHarness, mark: int, *headers: str) -> None:
    """
    Answer with a 200 the last request the proxy forwarded after C{h.sent[mark]}, when it
    is one that is answered.
    """
    for message, address in reversed(h.sent[mark:]):
        if isinstance(message, Request):
            if message.method not in ("ACK", "CANCEL"):
                try:
                    answer = h.answer(message, 200, *headers)
                except SIPParseError:
                    return  # The callee cannot make sense of it either (a proxy forwards
                    # headers it does not use as they came, RFC 3261 section 16.3).
                h.fromCallee(answer)
            return


def runScenario(h: TortureHarness, seed: Seed, mutate: Callable[[bytes], bytes], n: int = 1) -> None:
    """
    Carry the mutated C{seed} through the whole proxy: deliver it where it belongs, with the
    exchange around it (a call set up before an in-dialog request, a 200 to a forwarded
    request).

    @param n: makes the Call-ID and tags of built messages unique, when one harness runs
        many scenarios.
    """
    callId = "call-%d" % (n,)
    fromTag = "caller%d" % (n,)
    kind = seed.kind
    if kind == "request":
        mark = len(h.sent)
        h.fromCaller(mutate(seed.data))
        _answerForwarded(h, mark)
    elif kind == "response":
        h.fromCallee(mutate(seed.data))
    elif kind == "invite":
        mark = len(h.sent)
        h.fromCaller(mutate(h.invite(*_SESSION, callId=callId, fromTag=fromTag,
                                     branch="z9hG4bK-inv-%d" % (n,)).encode("latin-1")))
        _answerForwarded(h, mark, "Session-Expires: 1800;refresher=uac", "Require: timer")
        h.fromCaller(h.inDialog("ACK", cseq=1, callId=callId, fromTag=fromTag))
    elif kind == "ok":
        h.fromCaller(h.invite(*_SESSION, callId=callId, fromTag=fromTag, branch="z9hG4bK-inv-%d" % (n,)))
        forwarded = h.lastRequestTo(CALLEE)
        ok = h.answer(forwarded, 200, "Session-Expires: 1800;refresher=uas", "Require: timer",
                      "Supported: timer")
        h.fromCallee(mutate(ok.encode("latin-1")))
        h.fromCaller(h.inDialog("ACK", cseq=1, callId=callId, fromTag=fromTag))
    else:
        h.call(*_SESSION, callId=callId, fromTag=fromTag, branch="z9hG4bK-inv-%d" % (n,))
        method, extra = {
            "bye": ("BYE", ()),
            "update": ("UPDATE", ("Session-Expires: 1800;refresher=uac", "Supported: timer")),
            "reinvite": ("INVITE", ("Session-Expires: 1800", "Supported: timer", "Min-SE: 90")),
        }[kind]
        mark = len(h.sent)
        h.fromCaller(mutate(h.inDialog(method, *extra, callId=callId, fromTag=fromTag,
                                       cseq=2).encode("latin-1")))
        _answerForwarded(h, mark, "Session-Expires: 1800;refresher=uac")


def settle(h: ProxyHarness, seconds: float = 600.0) -> None:
    """
    Run the clock on by C{seconds}, stopping at each timer on the way: a timer set by
    another when it fires then runs on time (one big C{advance} would run it late), so
    chains such as Timer B, 408, Timer D all happen.
    """
    clock = h.clock
    end = clock.seconds() + seconds
    while True:
        calls = clock.getDelayedCalls()
        due = min((c.getTime() for c in calls), default=end + 1)
        if due > end:
            break
        clock.advance(max(due - clock.seconds(), 0.0))
    clock.advance(max(end - clock.seconds(), 0.0))
