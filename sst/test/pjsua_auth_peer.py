"""
Two PJSIP (pjsua2) user agents, alice and bob, for the digest-authentication interop test of
the proxy.

Run as a child process by L{sst.test.test_pjsua_auth}. One endpoint, no audio device, one UDP
transport per account. Both accounts register with sst (C{sip:USER@127.0.0.1}, with the
password C{--password}: sst challenges each REGISTER with 401) and use sst as their outbound
proxy; alice then calls C{sip:bob@127.0.0.1} (sst challenges the INVITE with 407 and routes it
to bob's registered contact), bob answers 200, and alice hangs up after C{--hold} seconds.

It prints one line of JSON per event (C{{"t": seconds, "who": "alice", "event": ...}}) and
exits 0 when both registrations succeeded and the call was confirmed and then ended on both
sides, 1 otherwise.

With C{--tls-ca}, C{--tls-cert} and C{--tls-key} (used by L{sst.test.test_pjsua_tls}), each
transport is TLS instead: it presents the certificate and verifies sst's against the CA, and
sst is addressed with C{;transport=tls}. Bob then registers the address of his TLS listener
as his Contact (PJSIP would give the port of his connection to sst), so that sst opens a
connection of its own to bob and checks his certificate.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Callable, Optional

import pjsua2 as pj  # type: ignore[import-untyped, import-not-found, unused-ignore]

_START = time.monotonic()


def emit(who: str, event: str, **fields: Any) -> None:
    """
    Print one event as a JSON line.
    """
    record = {"t": round(time.monotonic() - _START, 3), "who": who, "event": event}
    record.update(fields)
    print(json.dumps(record), flush=True)


class Call(pj.Call):  # type: ignore[misc]
    """
    A call that reports its states.
    """

    def __init__(self, account: "Account", callId: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(account, callId)
        self.who = account.who
        self.states: list[str] = []

    def onCallState(self, prm: Any) -> None:
        info = self.getInfo()
        self.states.append(info.stateText)
        emit(self.who, "state", state=info.stateText, code=info.lastStatusCode)


class Account(pj.Account):  # type: ignore[misc]
    """
    A registering account that answers incoming calls with 200.
    """

    def __init__(self, who: str) -> None:
        super().__init__()
        self.who = who
        self.calls: list[Call] = []
        self.registered: Optional[int] = None

    def onRegState(self, prm: Any) -> None:
        emit(self.who, "registration", code=prm.code)
        if prm.code // 100 == 2 or prm.code >= 300:
            self.registered = prm.code

    def onIncomingCall(self, prm: Any) -> None:
        call = Call(self, prm.callId)
        self.calls.append(call)
        emit(self.who, "incoming")
        answer = pj.CallOpParam()
        answer.statusCode = 200
        call.answer(answer)


def account(who: str, sst: str, transportId: int, password: str, tls: bool = False,
            contact: Optional[str] = None) -> Account:
    """
    Make an account of sst's domain 127.0.0.1 that registers with sst through its transport.

    @param contact: the Contact URI to register, instead of PJSIP's.
    """
    config = pj.AccountConfig()
    config.idUri = "sip:%s@127.0.0.1" % (who,)
    suffix = ";transport=tls" if tls else ""
    config.regConfig.registrarUri = "sip:%s%s" % (sst, suffix)
    config.sipConfig.proxies.append("sip:%s%s;lr" % (sst, suffix))
    config.sipConfig.transportId = transportId
    if contact is not None:
        config.sipConfig.contactForced = contact
    credentials = pj.AuthCredInfo("digest", "*", who, 0, password)
    config.sipConfig.authCreds.append(credentials)
    peer = Account(who)
    peer.create(config)
    return peer


def run(args: argparse.Namespace) -> int:
    """
    Register both, make the call, hold it, hang up, and report.
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
    tls = args.tls_ca is not None
    for port in (args.alice_port, args.bob_port):
        transport = pj.TransportConfig()
        transport.port = port
        transport.boundAddress = "127.0.0.1"
        if tls:
            transport.tlsConfig.CaListFile = args.tls_ca
            transport.tlsConfig.certFile = args.tls_cert
            transport.tlsConfig.privKeyFile = args.tls_key
            transport.tlsConfig.verifyServer = True
            transport.tlsConfig.method = pj.PJSIP_TLSV1_2_METHOD
        ids.append(endpoint.transportCreate(
            pj.PJSIP_TRANSPORT_TLS if tls else pj.PJSIP_TRANSPORT_UDP, transport))
    endpoint.libStart()

    def pump(seconds: float, until: Callable[[], bool]) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not until():
            endpoint.libHandleEvents(20)

    alice = account("alice", args.sst, ids[0], args.password, tls)
    bob = account("bob", args.sst, ids[1], args.password, tls,
                  "<sip:bob@127.0.0.1:%d;transport=tls>" % (args.bob_port,) if tls else None)
    pump(10, lambda: alice.registered is not None and bob.registered is not None)
    registered = alice.registered == 200 and bob.registered == 200
    emit("test", "registered" if registered else "not-registered")
    confirmed = ended = False
    if registered:
        call = Call(alice)
        alice.calls.append(call)
        call.makeCall("sip:bob@127.0.0.1", pj.CallOpParam(True))
        pump(10, lambda: "CONFIRMED" in call.states and bool(bob.calls)
             and "CONFIRMED" in bob.calls[0].states)
        confirmed = "CONFIRMED" in call.states and bool(bob.calls) and "CONFIRMED" in bob.calls[0].states
        emit("test", "confirmed" if confirmed else "not-confirmed")
        if confirmed:
            pump(args.hold, lambda: "DISCONNECTED" in call.states)
            if "DISCONNECTED" not in call.states:
                call.hangup(pj.CallOpParam())
            pump(10, lambda: bool(bob.calls) and "DISCONNECTED" in bob.calls[0].states)
        ended = "DISCONNECTED" in call.states and bool(bob.calls) and "DISCONNECTED" in bob.calls[0].states
        emit("test", "done", ended=ended)
        del call
    alice.calls.clear()
    bob.calls.clear()
    alice.shutdown()
    bob.shutdown()
    endpoint.libDestroy()
    return 0 if registered and confirmed and ended else 1


def main() -> int:
    """
    Parse the command line and run.
    """
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sst", required=True, help="HOST:PORT of the proxy")
    parser.add_argument("--alice-port", type=int, required=True)
    parser.add_argument("--bob-port", type=int, required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--hold", type=float, default=1.0, help="seconds before alice hangs up")
    parser.add_argument("--log-level", type=int, default=0)
    parser.add_argument("--tls-ca", help="over TLS: the CA file sst's certificate is checked with")
    parser.add_argument("--tls-cert", help="over TLS: the certificate of the accounts")
    parser.add_argument("--tls-key", help="over TLS: its key")
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
