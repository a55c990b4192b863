# -*- test-case-name: sst.test.test_ua -*-
"""
Tests for L{sst.ua}: the UA core on a clock, with an in-memory wire.
"""
from __future__ import annotations

import random
from typing import Optional, Union

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from sst.address import Address
from sst.headers import parseURI
from sst.message import Request, Response, parse
from sst.protocol import ConnectFailed
from sst.stats import Stats
from sst.timers import TimerConfig
from sst.transaction import (
    IClientTransactionUser,
    ITransactionUser,
    ServerTransaction,
    TransactionLayer,
)
from sst.testing import RecordingTransport
from sst.ua.core import IUAUser, UserAgent
from sst.ua.dialog import IDialogUser, UADialog, _InDialogRequest
from sst.ua.invite import (
    IInviteUser,
    IncomingInvite,
    OutgoingInvite,
    _IgnoreResponses,
    glareBackoff,
)
from sst.test._support import assertProvides

ME = Address("udp", "127.0.0.1", 5060)
PEER = Address("udp", "127.0.0.1", 5080)
PROXY = Address("udp", "127.0.0.1", 5090)


@implementer(IUAUser, IDialogUser, IInviteUser)
class Recorder:
    """
    Records what the UA core tells its users.

    @ivar events: (event name, argument) pairs, oldest first.
    """

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []
        self.incoming: list[IncomingInvite] = []
        self.dialogs: list[UADialog] = []
        self.servers: list[ServerTransaction] = []

    def names(self) -> list[str]:
        """
        @return: the event names, oldest first.
        """
        return [name for name, _ in self.events]

    def inviteReceived(self, invite: IncomingInvite) -> None:
        self.incoming.append(invite)
        self.events.append(("invite", invite))

    def requestReceived(self, *args: object) -> None:
        server = args[-1]
        assert isinstance(server, ServerTransaction)
        self.servers.append(server)
        self.events.append(("request", server.request.method))

    def ackReceived(self, dialog: UADialog, ack: Request) -> None:
        self.events.append(("ack", ack.cseq().number))

    def dialogTerminated(self, dialog: UADialog, reason: str) -> None:
        self.events.append(("terminated", reason))

    def inviteProvisional(self, invite: OutgoingInvite, response: Response) -> None:
        self.events.append(("provisional", response.code))

    def inviteAnswered(self, invite: OutgoingInvite, dialog: UADialog, response: Response) -> None:
        dialog.user = self
        self.dialogs.append(dialog)
        self.events.append(("answered", response.code))

    def inviteFailed(self, invite: OutgoingInvite, response: Optional[Response]) -> None:
        self.events.append(("failed", None if response is None else response.code))


class Stack:
    """
    Transport, transactions and UA core on a clock; what is sent is recorded.
    """

    def __init__(self) -> None:
        self.clock = Clock()
        self.stats = Stats()
        self.transport = RecordingTransport(self.clock, self.stats, self._record)
        self.transport.listensAt(ME)
        self.sent: list[tuple[Union[Request, Response], Address]] = []
        self.user = Recorder()
        self.ua = UserAgent(self.transport, self.clock, self.user, TimerConfig(),
                            uniform=lambda low, high: low)
        self.transactions = self.ua.transactions
        self.ua.addLocalAddress(ME.host, ME.port)
        self._n = 0

    def _record(self, data: bytes, address: Address,
                connectFailed: Optional[ConnectFailed] = None) -> None:
        self.sent.append((parse(data), address))

    def receive(self, text: str, source: Address = PEER) -> None:
        """
        Deliver C{text} as if from C{source}.
        """
        self.transport.dataReceived(text.encode("latin-1"), source)

    def requests(self, method: str) -> list[Request]:
        """
        @return: the requests of C{method} sent, oldest first.
        """
        return [m for m, _ in self.sent if isinstance(m, Request) and m.method == method]

    def responses(self, code: Optional[int] = None) -> list[Response]:
        """
        @return: the responses (with C{code}) sent, oldest first.
        """
        return [m for m, _ in self.sent
                if isinstance(m, Response) and (code is None or m.code == code)]

    def request(self, method: str, *headers: str, toTag: Optional[str] = None, cseq: int = 1,
                callId: str = "c1", branch: Optional[str] = None, body: str = "") -> str:
        """
        A request from the peer to us.
        """
        self._n += 1
        lines = [
            "%s sip:me@%s SIP/2.0" % (method, ME.hostport()),
            "Via: SIP/2.0/UDP %s;branch=%s" % (PEER.hostport(), branch or "z9hG4bK-p%d" % self._n),
            "Max-Forwards: 70",
            "From: <sip:peer@%s>;tag=peer1" % (PEER.hostport(),),
            "To: <sip:me@%s>%s" % (ME.hostport(), ";tag=" + toTag if toTag else ""),
            "Call-ID: " + callId,
            "CSeq: %d %s" % (cseq, method),
            "Contact: <sip:peer@%s>" % (PEER.hostport(),),
        ]
        lines.extend(headers)
        lines.append("Content-Length: %d" % (len(body),))
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def reply(self, request: Request, code: int, *headers: str, toTag: str = "peer2") -> str:
        """
        The peer's response to C{request}.
        """
        lines = ["SIP/2.0 %d X" % (code,)]
        lines += ["Via: " + v for v in request.headerValues("via")]
        lines.append("From: " + (request.header("from") or ""))
        to = request.header("to") or ""
        lines.append("To: " + (to if request.toTag is not None or code == 100
                               else "%s;tag=%s" % (to, toTag)))
        lines.append("Call-ID: " + request.callId)
        lines.append("CSeq: " + (request.header("cseq") or ""))
        lines.append("Contact: <sip:peer@%s>" % (PEER.hostport(),))
        lines.extend(headers)
        lines.append("Content-Length: 0")
        return "\r\n".join(lines) + "\r\n\r\n"

    def outgoingInvite(self) -> tuple[OutgoingInvite, Request]:
        """
        Send a dialog-creating INVITE to the peer.
        """
        request = Request("INVITE", "sip:peer@%s" % (PEER.hostport(),))
        request.addHeader("Max-Forwards", "70")
        request.addHeader("From", "<sip:me@%s>;tag=me1" % (ME.hostport(),))
        request.addHeader("To", "<sip:peer@%s>" % (PEER.hostport(),))
        request.addHeader("Call-ID", "out-1")
        request.addHeader("CSeq", "1 INVITE")
        request.addHeader("Contact", "<sip:%s>" % (ME.hostport(),))
        outgoing = self.ua.invite(request, PEER, self.user)
        return outgoing, self.requests("INVITE")[-1]

    def incomingDialog(self, *headers: str) -> tuple[IncomingInvite, UADialog, Response]:
        """
        Accept an INVITE from the peer and let its ACK arrive.
        """
        self.receive(self.request("INVITE", *headers))
        incoming = self.user.incoming[-1]
        dialog = incoming.accept(self.user)
        ok = self.responses(200)[-1]
        self.receive(self.request("ACK", toTag=ok.toTag, cseq=1))
        return incoming, dialog, ok

    def settle(self) -> None:
        """
        Let every transaction end.
        """
        self.clock.advance(40)


class UASTests(SynchronousTestCase):
    """
    The UAS side of a dialog-creating INVITE.
    """

    def test_provides(self) -> None:
        """
        L{UserAgent} is a transaction user; the recorder provides the user interfaces.
        """
        stack = Stack()
        assertProvides(self, ITransactionUser, stack.ua)
        for interface in (IUAUser, IDialogUser, IInviteUser):
            assertProvides(self, interface, stack.user)

    def test_clientUsersProvide(self) -> None:
        """
        The users of the UA core's client transactions provide L{IClientTransactionUser}:
        an L{OutgoingInvite}, the sender of an in-dialog request, and the user of a CANCEL.
        """
        stack = Stack()
        outgoing, _ = stack.outgoingInvite()
        assertProvides(self, IClientTransactionUser, outgoing)
        _, dialog, _ = stack.incomingDialog()
        dialog.request("INFO")
        users = [client.user for client in stack.transactions.clients.values()]
        [sender] = [u for u in users if u is not outgoing]
        self.assertIsInstance(sender, _InDialogRequest)
        assertProvides(self, IClientTransactionUser, sender)
        assertProvides(self, IClientTransactionUser, _IgnoreResponses())

    def test_acceptAdvertised(self) -> None:
        """
        With an advertised address (C{--advertise}), the 2xx's Contact names it rather than
        the address sst listens on, and a request whose Route names it is taken as ours.
        """
        stack = Stack()
        stack.ua.advertise("192.0.2.7", 5080)
        stack.receive(stack.request("INVITE"))
        incoming = stack.user.incoming[0]
        incoming.accept(stack.user, [], b"v=0\r\n")
        self.assertEqual(stack.responses(200)[0].header("contact"), "<sip:192.0.2.7:5080>")
        self.assertTrue(stack.ua.isLocal(parseURI("sip:192.0.2.7:5080;lr")))
        self.assertFalse(stack.ua.isLocal(parseURI("sip:192.0.2.7:5081;lr")))

    def test_accept(self) -> None:
        """
        An INVITE gets 100 at once; the 2xx carries our tag, the Record-Route set, our
        Contact, Allow and Supported; the dialog's route set is the Record-Route in order and
        its remote target the caller's Contact.
        """
        stack = Stack()
        stack.receive(stack.request("INVITE", "Record-Route: <sip:p1;lr>, <sip:p2;lr>"))
        self.assertEqual([r.code for r in stack.responses()], [100])
        incoming = stack.user.incoming[0]
        incoming.provisional(180)
        dialog = incoming.accept(stack.user, [("X-Test", "1")], b"v=0\r\n")
        ok = stack.responses(200)[0]
        self.assertEqual(ok.toTag, incoming.toTag)
        self.assertEqual(stack.responses(180)[0].toTag, incoming.toTag)
        self.assertEqual(ok.headerValues("record-route"), ["<sip:p1;lr>", "<sip:p2;lr>"])
        self.assertEqual(ok.header("contact"), "<sip:127.0.0.1:5060>")
        self.assertTrue(ok.hasOptionTag("supported", "timer"))
        self.assertEqual(ok.header("x-test"), "1")
        self.assertEqual(ok.body, b"v=0\r\n")
        self.assertEqual(dialog.routeSet, ("<sip:p1;lr>", "<sip:p2;lr>"))
        self.assertEqual(dialog.remoteTarget, "sip:peer@127.0.0.1:5080")
        self.assertFalse(dialog.isUAC)
        self.assertEqual(dialog.id.fromTag, "peer1")
        self.assertIs(stack.ua.dialogs[dialog.key], dialog)

    def test_2xxRetransmission(self) -> None:
        """
        The 2xx is sent again at T1, 2*T1, 4*T1 and then every T2 until the ACK, which the
        user is told of; after it nothing is scheduled once the transaction ends.
        """
        stack = Stack()
        stack.receive(stack.request("INVITE"))
        stack.user.incoming[0].accept(stack.user)
        times = []
        for _ in range(32):
            before = len(stack.responses(200))
            stack.clock.advance(0.5)
            if len(stack.responses(200)) > before:
                times.append(stack.clock.seconds())
        self.assertEqual(times, [0.5, 1.5, 3.5, 7.5, 11.5, 15.5])
        ok = stack.responses(200)[0]
        stack.receive(stack.request("ACK", toTag=ok.toTag))
        self.assertEqual(stack.user.events[-1], ("ack", 1))
        stack.settle()
        self.assertEqual(len(stack.responses(200)), 7)
        self.assertEqual(stack.clock.getDelayedCalls(), [])

    def test_noAck(self) -> None:
        """
        Without an ACK for 64*T1 the UAS sends BYE and ends the dialog when it is answered.
        """
        stack = Stack()
        stack.receive(stack.request("INVITE"))
        stack.user.incoming[0].accept(stack.user)
        stack.clock.advance(31.9)
        self.assertEqual(stack.requests("BYE"), [])
        stack.clock.advance(0.1)
        [bye] = stack.requests("BYE")
        self.assertEqual(bye.uri, "sip:peer@127.0.0.1:5080")
        self.assertEqual(stack.user.events[-1], ("terminated", "no-ack"))
        stack.receive(stack.reply(bye, 200))
        stack.settle()
        self.assertEqual(stack.ua.dialogs, {})
        self.assertEqual(stack.clock.getDelayedCalls(), [])

    def test_reject(self) -> None:
        """
        A rejected INVITE gets its final response once; later answers are ignored.
        """
        stack = Stack()
        stack.receive(stack.request("INVITE"))
        incoming = stack.user.incoming[0]
        incoming.reject(486)
        incoming.reject(500)
        self.assertEqual([r.code for r in stack.responses()], [100, 486])
        self.assertRaises(RuntimeError, incoming.accept, stack.user)

    def test_cancel(self) -> None:
        """
        A CANCEL is answered 200, the INVITE 487, and C{onCancel} is called.
        """
        stack = Stack()
        stack.receive(stack.request("INVITE", branch="z9hG4bK-x"))
        incoming = stack.user.incoming[0]
        called: list[bool] = []
        incoming.onCancel = lambda: called.append(True)
        stack.receive(stack.request("CANCEL", branch="z9hG4bK-x").replace("CSeq: 1 CANCEL",
                                                                           "CSeq: 1 CANCEL"))
        self.assertEqual([(r.code, r.cseq().method) for r in stack.responses()],
                         [(100, "INVITE"), (200, "CANCEL"), (487, "INVITE")])
        self.assertEqual(called, [True])
        self.assertTrue(incoming.cancelled)

    def test_cancelUnknown(self) -> None:
        """
        A CANCEL matching no INVITE gets 481.
        """
        stack = Stack()
        stack.receive(stack.request("CANCEL"))
        self.assertEqual(stack.responses()[-1].code, 481)

    def test_options(self) -> None:
        """
        OPTIONS outside a dialog is answered 200 with Allow.
        """
        stack = Stack()
        stack.receive(stack.request("OPTIONS"))
        response = stack.responses()[-1]
        self.assertEqual(response.code, 200)
        self.assertIn("UPDATE", response.headerValues("allow"))

    def test_otherRequestsToUser(self) -> None:
        """
        Other requests outside a dialog go to the user.
        """
        stack = Stack()
        stack.receive(stack.request("REGISTER"))
        self.assertEqual(stack.user.events[-1], ("request", "REGISTER"))

    def test_unknownDialog(self) -> None:
        """
        A request with a To tag matching no dialog gets 481.
        """
        stack = Stack()
        stack.receive(stack.request("UPDATE", toTag="nope", cseq=2))
        self.assertEqual(stack.responses()[-1].code, 481)


class UACTests(SynchronousTestCase):
    """
    The UAC side of a dialog-creating INVITE.
    """

    def test_answered(self) -> None:
        """
        A 2xx makes a dialog (route set: the Record-Route reversed; remote target: the
        Contact) and is acknowledged with a new branch, sent to the first route; a
        retransmitted 2xx gets the same ACK again.
        """
        stack = Stack()
        _, invite = stack.outgoingInvite()
        stack.receive(stack.reply(invite, 180))
        rr = "Record-Route: <sip:%s;lr>, <sip:far;lr>" % (PROXY.hostport(),)
        stack.receive(stack.reply(invite, 200, rr))
        self.assertEqual(stack.user.names(), ["provisional", "answered"])
        dialog = stack.user.dialogs[0]
        self.assertEqual(dialog.routeSet, ("<sip:far;lr>", "<sip:%s;lr>" % (PROXY.hostport(),)))
        self.assertTrue(dialog.isUAC)
        self.assertEqual(dialog.id.fromTag, "me1")
        self.assertEqual(dialog.id.toTag, "peer2")
        [(ack, address)] = [(m, a) for m, a in stack.sent if isinstance(m, Request)
                            and m.method == "ACK"]
        self.assertEqual(ack.uri, "sip:peer@127.0.0.1:5080")
        self.assertEqual(ack.headerValues("route"), list(dialog.routeSet))
        self.assertEqual(address.host, "far")
        self.assertNotEqual(ack.topVia().branch, invite.topVia().branch)
        self.assertEqual(ack.cseq().number, 1)
        stack.receive(stack.reply(invite, 200, rr))
        acks = stack.requests("ACK")
        self.assertEqual(len(acks), 2)
        self.assertEqual(acks[0].toBytes(), acks[1].toBytes())
        self.assertEqual(stack.user.names(), ["provisional", "answered"])

    def test_failed(self) -> None:
        """
        A final failure goes to the user (the transaction acknowledges it).
        """
        stack = Stack()
        _, invite = stack.outgoingInvite()
        stack.receive(stack.reply(invite, 486))
        self.assertEqual(stack.user.events, [("failed", 486)])
        self.assertEqual(len(stack.requests("ACK")), 1)

    def test_timeout(self) -> None:
        """
        An unanswered INVITE fails with L{None} at Timer B.
        """
        stack = Stack()
        stack.outgoingInvite()
        stack.clock.advance(32)
        self.assertEqual(stack.user.events, [("failed", None)])

    def test_cancelWaitsForProvisional(self) -> None:
        """
        A CANCEL asked for before any provisional response is sent when one arrives.
        """
        stack = Stack()
        outgoing, invite = stack.outgoingInvite()
        outgoing.cancel()
        self.assertEqual(stack.requests("CANCEL"), [])
        stack.receive(stack.reply(invite, 100))
        [cancel] = stack.requests("CANCEL")
        self.assertEqual(cancel.topVia().branch, invite.topVia().branch)

    def test_secondFork(self) -> None:
        """
        A 2xx from a second fork is acknowledged and ended with BYE.
        """
        stack = Stack()
        _, invite = stack.outgoingInvite()
        stack.receive(stack.reply(invite, 200))
        stack.receive(stack.reply(invite, 200, toTag="fork2"))
        self.assertEqual(len(stack.requests("ACK")), 2)
        [bye] = stack.requests("BYE")
        self.assertEqual(bye.toTag, "fork2")
        self.assertEqual(stack.user.names(), ["answered"])


class DialogTests(SynchronousTestCase):
    """
    Requests in a dialog.
    """

    def test_requestCSeqAndRoute(self) -> None:
        """
        Requests in the dialog take the next local CSeq, our tags and the route set.
        """
        stack = Stack()
        _, dialog, ok = stack.incomingDialog("Record-Route: <sip:%s;lr>" % (PROXY.hostport(),))
        dialog.request("UPDATE", [("Session-Expires", "90;refresher=uac")])
        dialog.request("INFO")
        update, info = stack.requests("UPDATE")[0], stack.requests("INFO")[0]
        self.assertEqual((update.cseq().number, info.cseq().number), (1, 2))
        self.assertEqual(update.fromTag, ok.toTag)
        self.assertEqual(update.toTag, "peer1")
        self.assertEqual(update.headerValues("route"), ["<sip:%s;lr>" % (PROXY.hostport(),)])
        self.assertEqual(update.header("session-expires"), "90;refresher=uac")
        self.assertEqual([a for m, a in stack.sent if m is update], [PROXY])

    def test_strictRoute(self) -> None:
        """
        With a strict router first in the route set, it becomes the Request-URI and the
        remote target the last Route.
        """
        stack = Stack()
        _, dialog, _ = stack.incomingDialog("Record-Route: <sip:%s>" % (PROXY.hostport(),))
        dialog.request("INFO")
        [info] = stack.requests("INFO")
        self.assertEqual(info.uri, "sip:%s" % (PROXY.hostport(),))
        self.assertEqual(info.headerValues("route"), ["<sip:peer@127.0.0.1:5080>"])

    def test_481Ends(self) -> None:
        """
        A 481 to an in-dialog request ends the dialog without BYE.
        """
        stack = Stack()
        _, dialog, _ = stack.incomingDialog()
        seen: list[int] = []
        dialog.request("UPDATE", onResponse=lambda r: seen.append(r.code))
        stack.receive(stack.reply(stack.requests("UPDATE")[0], 481))
        self.assertEqual(seen, [481])
        self.assertEqual(stack.user.events[-1], ("terminated", "481"))
        self.assertEqual(stack.requests("BYE"), [])
        self.assertEqual(stack.ua.dialogs, {})

    def test_408Ends(self) -> None:
        """
        A 408 to an in-dialog request sends BYE and ends the dialog.
        """
        stack = Stack()
        _, dialog, _ = stack.incomingDialog()
        dialog.request("UPDATE")
        stack.receive(stack.reply(stack.requests("UPDATE")[0], 408))
        self.assertEqual(len(stack.requests("BYE")), 1)
        self.assertEqual(stack.user.events[-1], ("terminated", "408"))

    def test_timeoutEnds(self) -> None:
        """
        An in-dialog request without answer sends BYE and ends the dialog at Timer F.
        """
        stack = Stack()
        _, dialog, _ = stack.incomingDialog()
        timedOut: list[bool] = []
        dialog.request("UPDATE", onTimeout=lambda: timedOut.append(True))
        stack.clock.advance(32)
        self.assertEqual(timedOut, [True])
        self.assertEqual(len(stack.requests("BYE")), 1)
        self.assertIn(("terminated", "timeout"), stack.user.events)

    def test_reinviteAcked(self) -> None:
        """
        A 2xx to our re-INVITE is acknowledged with the re-INVITE's CSeq.
        """
        stack = Stack()
        _, dialog, _ = stack.incomingDialog()
        dialog.request("INVITE", body=b"v=0\r\n")
        self.assertTrue(dialog.invitePending)
        stack.receive(stack.reply(stack.requests("INVITE")[-1], 200))
        self.assertFalse(dialog.invitePending)
        self.assertEqual([a.cseq().number for a in stack.requests("ACK")], [1])

    def test_glare491(self) -> None:
        """
        A re-INVITE from the peer while ours is pending gets 491.
        """
        stack = Stack()
        _, dialog, ok = stack.incomingDialog()
        dialog.request("INVITE", body=b"v=0\r\n")
        stack.receive(stack.request("INVITE", toTag=ok.toTag, cseq=2, body="v=0\r\n"))
        self.assertEqual(stack.responses()[-1].code, 491)

    def test_peerInvitePending(self) -> None:
        """
        A second re-INVITE from the peer while its first is unanswered gets 500 with
        Retry-After.
        """
        stack = Stack()
        _, dialog, ok = stack.incomingDialog()
        stack.receive(stack.request("INVITE", toTag=ok.toTag, cseq=2, body="v=0\r\n"))
        self.assertEqual(stack.user.events[-1], ("request", "INVITE"))
        stack.receive(stack.request("INVITE", toTag=ok.toTag, cseq=3, body="v=0\r\n"))
        response = stack.responses()[-1]
        self.assertEqual(response.code, 500)
        self.assertTrue(response.hasHeader("retry-after"))
        dialog.respond(stack.user.servers[0], 200, body=b"v=0\r\n")
        self.assertIsNone(dialog.inviteServer)

    def test_cseqOutOfOrder(self) -> None:
        """
        A request with a lower CSeq than the last one gets 500.
        """
        stack = Stack()
        _, _, ok = stack.incomingDialog()
        stack.receive(stack.request("INFO", toTag=ok.toTag, cseq=5))
        stack.receive(stack.request("INFO", toTag=ok.toTag, cseq=4))
        self.assertEqual(stack.responses()[-1].code, 500)

    def test_remoteBye(self) -> None:
        """
        A BYE from the peer is answered 200 and ends the dialog.
        """
        stack = Stack()
        _, _, ok = stack.incomingDialog()
        stack.receive(stack.request("BYE", toTag=ok.toTag, cseq=2))
        self.assertEqual(stack.responses()[-1].code, 200)
        self.assertEqual(stack.user.events[-1], ("terminated", "remote-bye"))
        self.assertEqual(stack.ua.dialogs, {})
        stack.settle()
        self.assertEqual(stack.clock.getDelayedCalls(), [])

    def test_bye(self) -> None:
        """
        Our BYE ends the dialog once answered; a second BYE is not sent, and nothing but BYE
        may be sent meanwhile.
        """
        stack = Stack()
        _, dialog, _ = stack.incomingDialog()
        dialog.bye([("Reason", "SIP;cause=200")])
        dialog.bye()
        [bye] = stack.requests("BYE")
        self.assertEqual(bye.header("reason"), "SIP;cause=200")
        self.assertRaises(RuntimeError, dialog.request, "INFO")
        stack.receive(stack.reply(bye, 200))
        self.assertEqual(stack.user.events[-1], ("terminated", "bye"))

    def test_targetRefresh(self) -> None:
        """
        A re-INVITE's Contact becomes the remote target; its Allow is remembered.
        """
        stack = Stack()
        _, dialog, ok = stack.incomingDialog()
        request = stack.request("UPDATE", "Allow: INVITE, UPDATE", toTag=ok.toTag, cseq=2)
        stack.receive(request.replace("Contact: <sip:peer@", "Contact: <sip:moved@"))
        self.assertEqual(dialog.remoteTarget, "sip:moved@127.0.0.1:5080")
        self.assertTrue(dialog.peerAllows("UPDATE"))


class GlareBackoffTests(SynchronousTestCase):
    """
    L{glareBackoff}: RFC 3261 section 14.1.
    """

    def test_ranges(self) -> None:
        """
        The owner of the Call-ID waits 2.1 to 4 s, the other party 0 to 2 s.
        """
        rng = random.Random(4028)
        owner = [glareBackoff(True, rng.uniform) for _ in range(200)]
        other = [glareBackoff(False, rng.uniform) for _ in range(200)]
        self.assertTrue(all(2.1 <= d <= 4.0 for d in owner))
        self.assertTrue(all(0.0 <= d <= 2.0 for d in other))


class OwnedCallIdTests(SynchronousTestCase):
    """
    With C{--workers}, the Call-IDs a UA core makes hash to its worker.
    """

    def test_newCallIdOwned(self) -> None:
        from sst.ownership import Ownership, ownerOf

        clock = Clock()
        transport = RecordingTransport(clock, Stats(), lambda *args: None)
        transport.listensAt(ME)
        for index in range(3):
            ua = UserAgent(transport, clock, Recorder(), TimerConfig(),
                           ownership=Ownership(index, 3))
            for _ in range(10):
                callId = ua.newCallId()
                self.assertTrue(callId.endswith("@" + ME.host))
                self.assertEqual(ownerOf(callId.encode("latin-1"), 3), index)
