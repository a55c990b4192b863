"""
Two PJSIP (pjsua2) user agents, A and B, for the interop test of the B2BUA.

Run as a child process by L{sst.test.test_pjsua}, so that pjsua2's own machinery stays out of
the test's reactor. One endpoint, no audio device, one UDP transport per account (A on
C{--a-port}, B on C{--b-port}); both accounts use session timers (C{timerUse} ALWAYS) with
C{--se} as Session-Expires and Min-SE. A calls C{sip:bob@<sst>}; sst (with B as next hop)
calls B, who answers 200. After C{--hold} seconds A hangs up, and the script waits for B to
see the BYE.

It prints one line of JSON per event (C{{"t": seconds, "who": "A", "event": ...}}) and exits
0 when both calls were confirmed and then disconnected, 1 otherwise.

    python sst/test/pjsua_peer.py --sst 127.0.0.1:5060 --a-port 5071 --b-port 5072
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Optional

import pjsua2 as pj  # type: ignore[import-untyped, import-not-found, unused-ignore]

_START = time.monotonic()


def emit(who: str, event: str, **fields: Any) -> None:
    """
    Print one event as a JSON line.
    """
    record = {"t": round(time.monotonic() - _START, 3), "who": who, "event": event}
    record.update(fields)
    print(json.dumps(record), flush=True)


class PeerCall(pj.Call):  # type: ignore[misc]
    """
    A call that reports its states and the transactions it sees.
    """

    def __init__(self, account: "PeerAccount", callId: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(account, callId)
        self.who = account.who
        self.states: list[str] = []

    def onCallState(self, prm: Any) -> None:
        info = self.getInfo()
        self.states.append(info.stateText)
        emit(self.who, "state", state=info.stateText, code=info.lastStatusCode)

    def onCallTsxState(self, prm: Any) -> None:
        try:
            tsx = prm.e.body.tsxState.tsx
            if tsx.state == pj.PJSIP_TSX_STATE_COMPLETED or tsx.state == pj.PJSIP_TSX_STATE_TERMINATED:
                return
            if tsx.role == pj.PJSIP_ROLE_UAS and tsx.state == pj.PJSIP_TSX_STATE_TRYING:
                emit(self.who, "request", method=tsx.method)
            elif tsx.role == pj.PJSIP_ROLE_UAC and tsx.state == pj.PJSIP_TSX_STATE_CALLING:
                emit(self.who, "sent", method=tsx.method)
        except Exception as e:  # never let an exception cross into pjsua2
            emit(self.who, "error", error=repr(e))


class PeerAccount(pj.Account):  # type: ignore[misc]
    """
    An account without registration; B answers incoming calls with 200.
    """

    def __init__(self, who: str) -> None:
        super().__init__()
        self.who = who
        self.calls: list[PeerCall] = []

    def onIncomingCall(self, prm: Any) -> None:
        call = PeerCall(self, prm.callId)
        self.calls.append(call)
        emit(self.who, "incoming")
        answer = pj.CallOpParam()
        answer.statusCode = 200
        call.answer(answer)


def account(endpoint: Any, who: str, user: str, port: int, transportId: int, se: int) -> PeerAccount:
    """
    Make an account bound to one transport, with session timers always on.
    """
    config = pj.AccountConfig()
    config.idUri = "sip:%s@127.0.0.1:%d" % (user, port)
    config.sipConfig.transportId = transportId
    config.callConfig.timerUse = pj.PJSUA_SIP_TIMER_ALWAYS
    config.callConfig.timerSessExpiresSec = se
    config.callConfig.timerMinSESec = se
    peer = PeerAccount(who)
    peer.create(config)
    return peer


def run(args: argparse.Namespace) -> int:
    """
    Make the call, hold it, hang up, and report.
    """
    endpoint = pj.Endpoint()
    endpoint.libCreate()
    config = pj.EpConfig()
    config.uaConfig.threadCnt = 0
    config.uaConfig.mainThreadOnly = True
    config.logConfig.level = args.log_level
    config.logConfig.consoleLevel = args.log_level
    endpoint.libInit(config)
    endpoint.audDevManager().setNoDev()
    ids = []
    for port in (args.a_port, args.b_port):
        transport = pj.TransportConfig()
        transport.port = port
        transport.boundAddress = "127.0.0.1"
        ids.append(endpoint.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport))
    endpoint.libStart()
    a = account(endpoint, "A", "alice", args.a_port, ids[0], args.se)
    b = account(endpoint, "B", "bob", args.b_port, ids[1], args.se)
    call = PeerCall(a)
    a.calls.append(call)

    def pump(seconds: float, until: Optional[Any] = None) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            endpoint.libHandleEvents(20)
            if until is not None and until():
                return

    call.makeCall("sip:bob@%s" % (args.sst,), pj.CallOpParam(True))
    pump(10, lambda: "CONFIRMED" in call.states and b.calls and "CONFIRMED" in b.calls[0].states)
    confirmed = "CONFIRMED" in call.states and bool(b.calls) and "CONFIRMED" in b.calls[0].states
    emit("test", "confirmed" if confirmed else "not-confirmed")
    if confirmed:
        pump(args.hold, lambda: "DISCONNECTED" in call.states)
        if "DISCONNECTED" not in call.states:
            call.hangup(pj.CallOpParam())
        pump(10, lambda: b.calls and "DISCONNECTED" in b.calls[0].states)
    ended = "DISCONNECTED" in call.states and bool(b.calls) and "DISCONNECTED" in b.calls[0].states
    emit("test", "done", ended=ended)
    del call
    a.calls.clear()
    b.calls.clear()
    a.shutdown()
    b.shutdown()
    endpoint.libDestroy()
    return 0 if confirmed and ended else 1


def main() -> int:
    """
    Parse the command line and run.
    """
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sst", required=True, help="HOST:PORT of the B2BUA")
    parser.add_argument("--a-port", type=int, required=True)
    parser.add_argument("--b-port", type=int, required=True)
    parser.add_argument("--se", type=int, default=90, help="Session-Expires and Min-SE")
    parser.add_argument("--hold", type=float, default=50.0, help="seconds before A hangs up")
    parser.add_argument("--log-level", type=int, default=0)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
