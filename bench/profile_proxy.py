#!/usr/bin/env python3
"""
In-process profile of one proxied call (INVITE/180/200/ACK/BYE/200), with no sockets: the
proxy stack runs on a task.Clock, a scripted UAC and UAS answer in memory. Shows where the
proxy's time goes per call, without SIPp or the kernel.

    python bench/profile_proxy.py --calls 5000            # time per call
    python bench/profile_proxy.py --calls 2000 --profile  # plus the top functions

Instructions per call, with the scripted phones' own share (their messages are built and
parsed in Python too) taken out: run each of these under
C{valgrind --tool=callgrind} and take the differences of the totals, over 1000.

    python bench/profile_proxy.py --calls 1000            # minus --calls 0: the whole call
    python bench/profile_proxy.py --calls 1000 --scripting
                                                          # minus --calls 1000: the phones
"""
from __future__ import annotations

import argparse
import bisect
import cProfile
import pstats
import sys
import time
from typing import Any, Optional

from twisted.internet.task import Clock

from sst.address import Address
from sst.message import Request, Response, parse
from sst.tap import Options, SIPService
from sst.stats import Stats
from sst.testing import RecordingTransport, SortedClock

UAC = Address("udp", "127.0.0.1", 5061)
UAS = Address("udp", "127.0.0.1", 5070)
PROXY = Address("udp", "127.0.0.1", 5060)

INVITE = (
    "INVITE sip:bob@127.0.0.1:5070 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-{n}-1;rport\r\n"
    "Max-Forwards: 70\r\n"
    'From: "alice" <sip:alice@127.0.0.1:5061>;tag=a{n}\r\n'
    "To: <sip:bob@127.0.0.1:5070>\r\n"
    "Call-ID: call-{n}@127.0.0.1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:alice@127.0.0.1:5061>\r\n"
    "Supported: timer\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 4\r\n\r\nv=0\n"
)
INDIALOG = (
    "{method} sip:bob@127.0.0.1:5070 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-{n}-{step};rport\r\n"
    "Route: <sip:127.0.0.1:5060;lr>\r\n"
    "Max-Forwards: 70\r\n"
    'From: "alice" <sip:alice@127.0.0.1:5061>;tag=a{n}\r\n'
    "To: <sip:bob@127.0.0.1:5070>;tag=b{n}\r\n"
    "Call-ID: call-{n}@127.0.0.1\r\n"
    "CSeq: {cseq} {method}\r\n"
    "Content-Length: 0\r\n\r\n"
)


class Wire:
    """
    Collects what the proxy sends, by destination.
    """

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Address]] = []

    def send(self, data: bytes, address: Address, connectFailed: Any = None) -> None:
        self.sent.append((data, address))


def answer(request: bytes, code: int, toTag: str, extra: str = "") -> bytes:
    """
    The UAS's response to a request the proxy forwarded (Vias and Record-Route copied).
    """
    req = parse(request)
    assert isinstance(req, Request)
    lines = ["SIP/2.0 %d %s" % (code, "OK" if code == 200 else "Ringing")]
    for v in req.headerValues("via"):
        lines.append("Via: " + v)
    for r in req.headerValues("record-route"):
        lines.append("Record-Route: " + r)
    lines.append("From: " + (req.header("from") or ""))
    to = req.header("to") or ""
    lines.append("To: " + (to if ";tag=" in to else to + ";tag=" + toTag))
    lines.append("Call-ID: " + req.callId)
    lines.append("CSeq: " + (req.header("cseq") or ""))
    lines.append("Contact: <sip:bob@127.0.0.1:5070>")
    if extra:
        lines.append(extra)
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def build(extra: list[str]) -> tuple[SIPService, Wire, Clock]:
    clock = SortedClock()
    options = Options()
    options.parseOptions(["--next-hop", "sip:127.0.0.1:5070"] + extra)
    wire = Wire()
    transport = RecordingTransport(clock, Stats(), wire.send, options["max-size"])
    service = SIPService(options, clock, transport=transport)
    transport.listensAt(PROXY)
    service.proxy.addLocalAddress("127.0.0.1", 5060)
    return service, wire, clock


#: What L{oneCall} keeps of a call for L{scripting}: the INVITE and the BYE forwarded to the
#: UAS, and everything the proxy sent before the BYE's answer.
Kept = list[tuple[bytes, bytes, list[tuple[bytes, Address]]]]


def oneCall(service: SIPService, wire: Wire, n: int, kept: Optional[Kept] = None) -> None:
    layer = service.transport
    layer.dataReceived(INVITE.format(n=n).encode(), UAC)
    forwarded = [d for d, a in wire.sent if a == UAS][-1]
    layer.dataReceived(answer(forwarded, 180, "b%d" % n), UAS)
    layer.dataReceived(answer(forwarded, 200, "b%d" % n), UAS)
    layer.dataReceived(INDIALOG.format(method="ACK", n=n, step=2, cseq=1).encode(), UAC)
    layer.dataReceived(INDIALOG.format(method="BYE", n=n, step=3, cseq=2).encode(), UAC)
    bye = [d for d, a in wire.sent if a == UAS][-1]
    if kept is not None:
        kept.append((forwarded, bye, list(wire.sent)))
    layer.dataReceived(answer(bye, 200, "b%d" % n), UAS)
    wire.sent.clear()


def scripting(service: SIPService, wire: Wire, clock: Clock, first: int, calls: int) -> None:
    """
    Run C{calls} calls, keeping what the proxy forwarded to the UAS, then do again only what
    L{oneCall} does besides feeding the proxy: build the UAC's requests and the UAS's
    responses (parsing the forwarded requests), and pick the forwarded requests out.
    """
    kept: Kept = []
    for n in range(first, first + calls):
        oneCall(service, wire, n, kept)
        clock.advance(1.0)
    replay = Wire()
    for n, (forwarded, bye, sent) in enumerate(kept, first):
        INVITE.format(n=n).encode()
        for data, address in sent[:2]:
            replay.send(data, address)
        [d for d, a in replay.sent if a == UAS][-1]
        answer(forwarded, 180, "b%d" % n)
        answer(forwarded, 200, "b%d" % n)
        INDIALOG.format(method="ACK", n=n, step=2, cseq=1).encode()
        INDIALOG.format(method="BYE", n=n, step=3, cseq=2).encode()
        for data, address in sent[2:]:
            replay.send(data, address)
        [d for d, a in replay.sent if a == UAS][-1]
        answer(bye, 200, "b%d" % n)
        replay.sent.clear()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumtime)")
    parser.add_argument("--scripting", action="store_true",
                        help="after the calls, redo the scripted phones' part of them alone")
    parser.add_argument("extra", nargs="*", help="twistd sst options")
    args = parser.parse_args()
    service, wire, clock = build(args.extra)
    for n in range(200):
        oneCall(service, wire, n)  # warm up
        clock.advance(1.0)
    if args.scripting:
        scripting(service, wire, clock, 200, args.calls)
        return 0
    profiler: Optional[Any] = cProfile.Profile() if args.profile else None
    start = time.process_time()
    if profiler is not None:
        profiler.enable()
    for n in range(200, 200 + args.calls):
        oneCall(service, wire, n)
        clock.advance(1.0)
    if profiler is not None:
        profiler.disable()
    cpu = time.process_time() - start
    print("calls %d, CPU %.3f s, %.3f ms per call (includes the scripted UAC/UAS parsing ~2 msgs)"
          % (args.calls, cpu, 1000 * cpu / args.calls))
    print("dialogs left %d, transactions %d/%d" % (len(service.dialogs),
          len(service.transactions.servers), len(service.transactions.clients)))
    if profiler is not None:
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(35)
    return 0


if __name__ == "__main__":
    sys.exit(main())
