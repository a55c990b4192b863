# -*- test-case-name: sst.test.test_proxy_auth -*-
"""
Digest authentication in the proxy core and the B2BUA (L{sst.auth.authenticator}), run
through the whole stack on a clock with an in-memory wire.
"""
from __future__ import annotations

import re
from typing import Any, Optional, Union

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from sst.auth.authenticator import Authenticator
from sst.auth.checkers import formatEntry
from sst.auth.digest import calcHA1, calcResponse, credentialsValue, parseCredentials
from sst.auth.passwd import entryFor
from sst.interfaces import IDigestResponse
from sst.message import Request, Response
from sst.test.b2bua_harness import B2BUAHarness
from sst.testing import CALLEE, CALLER, PROXY, ProxyHarness

#: The caller's identity and password (its From is sip:alice@127.0.0.1:5061).
ALICE = ("alice", "alice-pw")

#: Another user of ours.
BOB = ("bob", "bob-pw")

REALM = "127.0.0.1"

#: Where INVITEs go.
INVITE_URI = "sip:bob@%s" % (CALLEE.hostport(),)


def usersFile(testCase: SynchronousTestCase) -> str:
    """
    @return: the path of a users file with alice and bob in domain 127.0.0.1.
    """
    path = str(testCase.mktemp())
    with open(path, "w") as f:
        for user, password in (ALICE, BOB):
            f.write(formatEntry(entryFor("%s@127.0.0.1" % (user,), None, password)) + "\n")
    return path


def challenges(response: Union[Request, Response], header: str = "proxy-authenticate") -> list[Any]:
    """
    @return: the parsed challenges of C{response}, in order.
    """
    return [parseCredentials(v) for v in response.lineValues(header)]


def answer(response: Union[Request, Response], method: str, uri: str,
           user: tuple[str, str] = ALICE, algorithm: str = "MD5", nc: int = 1,
           header: str = "proxy-authenticate", password: Optional[str] = None) -> str:
    """
    @return: the credentials value answering C{response}'s challenge for C{algorithm}.
    """
    for challenge in challenges(response, header):
        if challenge.algorithm == algorithm:
            return credentialsValue(challenge, method, uri, user[0],
                                    password if password is not None else user[1], nc=nc)
    raise AssertionError("no %s challenge" % (algorithm,))


def register(aor: str = "alice", *headers: str, branch: str = "z9hG4bK-reg-1",
             cseq: int = 1) -> str:
    """
    A REGISTER of C{sip:aor@127.0.0.1} from the caller, with extra header lines.
    """
    lines = [
        "REGISTER sip:127.0.0.1 SIP/2.0",
        "Via: SIP/2.0/UDP %s;branch=%s;rport" % (CALLER.hostport(), branch),
        "Max-Forwards: 70",
        "From: <sip:%s@127.0.0.1>;tag=reg1" % (aor,),
        "To: <sip:%s@127.0.0.1>" % (aor,),
        "Call-ID: reg-1",
        "CSeq: %d REGISTER" % (cseq,),
        "Contact: <sip:%s@%s>" % (aor, CALLER.hostport()),
        "Expires: 3600",
    ]
    lines.extend(headers)
    lines.append("Content-Length: 0")
    return "\r\n".join(lines) + "\r\n\r\n"


def finals(h: ProxyHarness) -> list[Response]:
    """
    @return: the final responses sent to the caller, in order.
    """
    return [m for m in h.to(CALLER) if isinstance(m, Response) and m.code >= 200]


class ProxyAuthTests(SynchronousTestCase):
    """
    The proxy challenges out-of-dialog requests from outside the trusted networks and
    forwards them once authenticated.
    """

    def setUp(self) -> None:
        self.h = ProxyHarness(["--auth-file", usersFile(self), "--state", "none"])
        self.n = 0

    def invite(self, *headers: str, fromUser: str = "alice") -> None:
        """
        Send an INVITE from the caller (a new transaction each time).
        """
        self.n += 1
        text = self.h.invite(*headers, branch="z9hG4bK-inv-%d" % (self.n,), cseq=self.n)
        self.h.fromCaller(text.replace("sip:alice@", "sip:%s@" % (fromUser,), 1))

    def challenged(self) -> Response:
        """
        Send an INVITE without credentials; @return: its 407.
        """
        self.invite()
        response = finals(self.h)[-1]
        self.assertEqual(response.code, 407)
        return response

    def test_challenge(self) -> None:
        """
        An INVITE from outside the trusted networks gets 100 then 407, with one
        Proxy-Authenticate per algorithm, strongest first, one nonce, C{qop="auth"}, our
        realm; nothing is forwarded.
        """
        response = self.challenged()
        self.assertEqual([m.code for m in self.h.to(CALLER) if isinstance(m, Response)], [100, 407])
        found = challenges(response)
        self.assertEqual([c.algorithm for c in found], ["SHA-512-256", "SHA-256", "MD5"])
        self.assertEqual({c.realm for c in found}, {REALM})
        self.assertEqual(len({c.nonce for c in found}), 1)
        self.assertEqual({c.get("qop") for c in found}, {"auth"})
        self.assertEqual({c.get("stale") for c in found}, {None})
        self.assertIsNotNone(response.toTag)
        self.assertEqual(self.h.to(CALLEE), [])
        self.assertEqual(self.h.stats.get("auth_challenges"), 1)

    def test_authenticated(self) -> None:
        """
        An INVITE with good credentials, with any of the algorithms, is forwarded without
        them.
        """
        for i, algorithm in enumerate(["SHA-512-256", "SHA-256", "MD5"]):
            response = self.challenged()
            self.invite("Proxy-Authorization: " + answer(response, "INVITE", INVITE_URI,
                                                         algorithm=algorithm))
            forwarded = self.h.lastRequestTo(CALLEE)
            self.assertEqual(forwarded.method, "INVITE")
            self.assertFalse(forwarded.hasHeader("proxy-authorization"))
            self.assertEqual(self.h.stats.get("auth_ok"), i + 1)
        self.assertEqual(self.h.stats.get("auth_failures"), 0)

    def test_othersCredentialsKept(self) -> None:
        """
        Credentials for another realm are left for the proxy they are for (RFC 3261 section
        22.3); only ours are removed.
        """
        response = self.challenged()
        theirs = 'Digest username="alice", realm="upstream", nonce="x", uri="%s", ' \
                 'response="00"' % (INVITE_URI,)
        self.invite("Proxy-Authorization: " + theirs,
                    "Proxy-Authorization: " + answer(response, "INVITE", INVITE_URI))
        forwarded = self.h.lastRequestTo(CALLEE)
        self.assertEqual(forwarded.lineValues("proxy-authorization"), [theirs])

    def test_wrongPassword(self) -> None:
        """
        A wrong password gets a fresh challenge (not stale), and nothing is forwarded.
        """
        response = self.challenged()
        self.invite("Proxy-Authorization: " + answer(response, "INVITE", INVITE_URI,
                                                     password="guess"))
        again = finals(self.h)[-1]
        self.assertEqual(again.code, 407)
        self.assertEqual({c.get("stale") for c in challenges(again)}, {None})
        self.assertEqual(self.h.to(CALLEE), [])
        self.assertEqual(self.h.stats.get("auth_failures"), 1)

    def test_noEnumeration(self) -> None:
        """
        An unknown user and a wrong password get the same response, but for the nonce and
        the To tag.
        """
        response = self.challenged()
        self.invite("Proxy-Authorization: " + answer(response, "INVITE", INVITE_URI,
                                                     password="guess"))
        wrong = finals(self.h)[-1]
        self.invite("Proxy-Authorization: " + answer(response, "INVITE", INVITE_URI,
                                                     user=("mallory", "guess")))
        unknown = finals(self.h)[-1]

        def shape(r: Response) -> list[tuple[str, str]]:
            return [(name, re.sub(r'nonce="[^"]*"|tag=\w+|branch=[\w-]+|\d+ INVITE', "X", value))
                    for name, value in r.iterHeaders()]

        self.assertEqual((wrong.code, wrong.phrase), (unknown.code, unknown.phrase))
        self.assertEqual(shape(wrong), shape(unknown))
        self.assertEqual(self.h.stats.get("auth_failures"), 2)

    def test_forgedNonce(self) -> None:
        """
        Credentials with a nonce we did not make get a fresh challenge, even with the
        right password.
        """
        response = self.challenged()
        value = answer(response, "INVITE", INVITE_URI)
        nonce = challenges(response)[0].nonce
        forged = nonce[:5] + ("A" if nonce[5] != "A" else "B") + nonce[6:]
        challenge = parseCredentials('Digest realm="%s", nonce="%s", algorithm=MD5' % (REALM, forged))
        value = credentialsValue(challenge, "INVITE", INVITE_URI, *ALICE)
        self.invite("Proxy-Authorization: " + value)
        again = finals(self.h)[-1]
        self.assertEqual(again.code, 407)
        self.assertEqual({c.get("stale") for c in challenges(again)}, {None})
        self.assertEqual(self.h.to(CALLEE), [])

    def test_staleNonce(self) -> None:
        """
        The right password with an expired nonce gets a challenge with C{stale=true}; a
        wrong one with an expired nonce a plain challenge.
        """
        response = self.challenged()
        self.h.clock.advance(301)
        self.invite("Proxy-Authorization: " + answer(response, "INVITE", INVITE_URI,
                                                     password="guess"))
        self.assertEqual({c.get("stale") for c in challenges(finals(self.h)[-1])}, {None})
        self.invite("Proxy-Authorization: " + answer(response, "INVITE", INVITE_URI))
        stale = finals(self.h)[-1]
        self.assertEqual(stale.code, 407)
        self.assertEqual({c.get("stale") for c in challenges(stale)}, {"true"})
        self.assertEqual(self.h.stats.get("auth_stale"), 1)
        self.assertEqual(self.h.to(CALLEE), [])
        self.invite("Proxy-Authorization: " + answer(stale, "INVITE", INVITE_URI))
        self.assertEqual(self.h.lastRequestTo(CALLEE).method, "INVITE")

    def test_replayedNc(self) -> None:
        """
        The same nonce and C{nc} again get a challenge with C{stale=true}; a larger C{nc}
        is accepted.
        """
        response = self.challenged()
        value = answer(response, "INVITE", INVITE_URI)
        self.invite("Proxy-Authorization: " + value)
        self.assertEqual(len(self.h.to(CALLEE)), 1)
        self.invite("Proxy-Authorization: " + value)
        replayed = finals(self.h)[-1]
        self.assertEqual(replayed.code, 407)
        self.assertEqual({c.get("stale") for c in challenges(replayed)}, {"true"})
        self.assertEqual(self.h.stats.get("auth_replays"), 1)
        self.assertEqual(len(self.h.to(CALLEE)), 1)
        self.invite("Proxy-Authorization: " + answer(response, "INVITE", INVITE_URI, nc=2))
        self.assertEqual(len(self.h.to(CALLEE)), 2)

    def test_unusableCredentials(self) -> None:
        """
        Our credentials without C{qop} (RFC 2069, with no C{nc} to stop replays) get a
        fresh challenge, even when their response is right.
        """
        response = self.challenged()
        nonce = challenges(response)[0].nonce
        ha1 = calcHA1("MD5", "alice", REALM, ALICE[1])
        value = ('Digest username="alice", realm="%s", nonce="%s", uri="%s", response="%s", '
                 'algorithm=MD5' % (REALM, nonce, INVITE_URI,
                                    calcResponse("MD5", ha1, "INVITE", INVITE_URI, nonce)))
        self.invite("Proxy-Authorization: " + value)
        self.assertEqual(finals(self.h)[-1].code, 407)
        self.assertEqual(self.h.to(CALLEE), [])
        self.assertEqual(self.h.stats.get("auth_failures"), 1)

    def test_badNc(self) -> None:
        """
        An C{nc} that is not 8 hex digits makes the credentials unusable (a fresh
        challenge), even when the response was computed with it.
        """
        response = self.challenged()
        challenge = challenges(response)[-1]
        ha1 = calcHA1("MD5", "alice", REALM, ALICE[1])
        digest = calcResponse("MD5", ha1, "INVITE", INVITE_URI, challenge.nonce, "xyz", "c", "auth")
        self.invite('Proxy-Authorization: Digest username="alice", realm="%s", nonce="%s", '
                    'uri="%s", response="%s", algorithm=MD5, cnonce="c", qop=auth, nc=xyz'
                    % (REALM, challenge.nonce, INVITE_URI, digest))
        self.assertEqual(finals(self.h)[-1].code, 407)
        self.assertEqual(self.h.stats.get("internal_errors"), 0)

    def test_realmOption(self) -> None:
        """
        With C{--auth-realm}, every challenge has that realm, and users of that realm
        authenticate.
        """
        path = str(self.mktemp())
        with open(path, "w") as f:
            f.write(formatEntry(entryFor("alice@127.0.0.1", "Acme", ALICE[1])) + "\n")
        h = ProxyHarness(["--auth-file", path, "--state", "none", "--auth-realm", "Acme"])
        h.fromCaller(h.invite())
        response = finals(h)[-1]
        self.assertEqual({c.realm for c in challenges(response)}, {"Acme"})
        h.fromCaller(h.invite("Proxy-Authorization: " + answer(response, "INVITE", INVITE_URI),
                              branch="z9hG4bK-2", cseq=2))
        self.assertEqual(h.lastRequestTo(CALLEE).method, "INVITE")

    def test_algorithmNotOffered(self) -> None:
        """
        With C{--auth-algorithms MD5}, only MD5 is offered, and right SHA-256 credentials
        get a fresh challenge.
        """
        h = ProxyHarness(["--auth-file", usersFile(self), "--state", "none",
                          "--auth-algorithms", "MD5"])
        h.fromCaller(h.invite())
        response = finals(h)[-1]
        self.assertEqual([c.algorithm for c in challenges(response)], ["MD5"])
        challenge = parseCredentials(response.lineValues("proxy-authenticate")[0]
                                     .replace("algorithm=MD5", "algorithm=SHA-256"))
        h.fromCaller(h.invite("Proxy-Authorization: " + credentialsValue(
            challenge, "INVITE", INVITE_URI, *ALICE), branch="z9hG4bK-2", cseq=2))
        self.assertEqual(finals(h)[-1].code, 407)
        self.assertEqual(h.to(CALLEE), [])

    def test_callingAsSomeoneElse(self) -> None:
        """
        Alice's credentials on an INVITE from bob's address get 403.
        """
        self.invite(fromUser="bob")
        response = finals(self.h)[-1]
        self.invite("Proxy-Authorization: " + answer(response, "INVITE", INVITE_URI),
                    fromUser="bob")
        self.assertEqual(finals(self.h)[-1].code, 403)
        self.assertEqual(self.h.stats.get("auth_forbidden"), 1)
        self.assertEqual(self.h.to(CALLEE), [])

    def test_foreignFrom(self) -> None:
        """
        An INVITE from outside with a From in a domain we do not serve gets 403 at once.
        """
        text = self.h.invite().replace("sip:alice@127.0.0.1:5061>", "sip:alice@example.net>", 1)
        self.h.fromCaller(text)
        self.assertEqual(finals(self.h)[-1].code, 403)
        self.assertEqual(self.h.stats.get("auth_challenges"), 0)
        self.assertEqual(self.h.stats.get("auth_forbidden"), 1)

    def test_messageChallenged(self) -> None:
        """
        Any out-of-dialog request (here MESSAGE) is challenged, not only INVITE.
        """
        self.h.fromCaller(self.h.invite().replace("INVITE", "MESSAGE"))
        self.assertEqual(finals(self.h)[-1].code, 407)

    def test_inDialogAndAckNotChallenged(self) -> None:
        """
        After an authenticated INVITE, the ACK and in-dialog requests pass unchallenged.
        """
        response = self.challenged()
        self.h.call("Proxy-Authorization: " + answer(response, "INVITE", INVITE_URI),
                    branch="z9hG4bK-call", cseq=10)
        self.assertEqual([m.method for m in self.h.to(CALLEE) if isinstance(m, Request)],
                         ["INVITE", "ACK"])
        self.h.fromCaller(self.h.inDialog("BYE", cseq=11))
        self.assertEqual(self.h.lastRequestTo(CALLEE).method, "BYE")
        self.assertEqual(self.h.stats.get("auth_challenges"), 1)

    def test_optionsToSelfNotChallenged(self) -> None:
        """
        An OPTIONS for the proxy itself (a health check) is answered without a challenge.
        """
        self.h.fromCaller("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-o\r\n"
                          "From: <sip:x@example.net>;tag=1\r\nTo: <sip:%s>\r\nCall-ID: o\r\n"
                          "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
                          % (PROXY.hostport(), CALLER.hostport(), PROXY.hostport()))
        self.assertEqual(finals(self.h)[-1].code, 200)

    def test_register(self) -> None:
        """
        A REGISTER for our registrar gets 401 with WWW-Authenticate; with Authorization it
        is accepted.
        """
        self.h.fromCaller(register())
        response = finals(self.h)[-1]
        self.assertEqual(response.code, 401)
        self.assertEqual([c.algorithm for c in challenges(response, "www-authenticate")],
                         ["SHA-512-256", "SHA-256", "MD5"])
        self.assertFalse(response.hasHeader("proxy-authenticate"))
        self.h.fromCaller(register("alice", "Authorization: " + answer(
            response, "REGISTER", "sip:127.0.0.1", header="www-authenticate",
            algorithm="SHA-256"), branch="z9hG4bK-reg-2", cseq=2))
        self.assertEqual(finals(self.h)[-1].code, 200)
        self.assertEqual(len(self.h.service.locations), 1)

    def test_registerSomeoneElse(self) -> None:
        """
        Alice's credentials on a REGISTER of bob's address of record get 403; nothing is
        bound.
        """
        self.h.fromCaller(register("bob"))
        response = finals(self.h)[-1]
        self.h.fromCaller(register("bob", "Authorization: " + answer(
            response, "REGISTER", "sip:127.0.0.1", header="www-authenticate"),
            branch="z9hG4bK-reg-2", cseq=2))
        self.assertEqual(finals(self.h)[-1].code, 403)
        self.assertEqual(len(self.h.service.locations), 0)

    def test_trustedNetwork(self) -> None:
        """
        An INVITE from a C{--trusted-network} source is forwarded unchallenged.
        """
        h = ProxyHarness(["--auth-file", usersFile(self), "--state", "none",
                          "--trusted-network", "127.0.0.0/8"])
        h.fromCaller(h.invite())
        self.assertEqual(h.lastRequestTo(CALLEE).method, "INVITE")
        self.assertEqual(h.stats.get("auth_challenges"), 0)

    def test_noAuthUnchanged(self) -> None:
        """
        Without authentication nothing is challenged, and the proxy has no authenticator.
        """
        h = ProxyHarness(["--state", "none"])
        self.assertIsNone(h.service.proxy.authenticator)
        h.fromCaller(h.invite())
        self.assertEqual(h.lastRequestTo(CALLEE).method, "INVITE")


@implementer(ICredentialsChecker)
class SlowChecker:
    """
    A checker that answers when the test says (a database, say).
    """

    credentialInterfaces = (IDigestResponse,)

    def __init__(self) -> None:
        self.pending: list[Deferred[Any]] = []

    def requestAvatarId(self, credentials: Any) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self.pending.append(d)
        return d


class AsynchronousCheckerTests(SynchronousTestCase):
    """
    The proxy waits for a checker that answers later.
    """

    def setUp(self) -> None:
        self.h = ProxyHarness(["--auth-file", usersFile(self), "--state", "none"])
        authenticator = self.h.service.proxy.authenticator
        assert isinstance(authenticator, Authenticator)
        self.checker = SlowChecker()
        authenticator.checker = self.checker
        self.h.fromCaller(self.h.invite())
        self.value = answer(finals(self.h)[-1], "INVITE", INVITE_URI)
        self.h.fromCaller(self.h.invite("Proxy-Authorization: " + self.value,
                                        branch="z9hG4bK-inv-2", cseq=2))

    def test_waits(self) -> None:
        """
        Nothing is forwarded until the checker answers.
        """
        self.assertEqual(self.h.to(CALLEE), [])
        self.checker.pending[0].callback("alice@127.0.0.1")
        self.assertEqual(self.h.lastRequestTo(CALLEE).method, "INVITE")

    def test_bytesIdentity(self) -> None:
        """
        A checker may fire with the identity as bytes.
        """
        self.checker.pending[0].callback(b"alice@127.0.0.1")
        self.assertEqual(self.h.lastRequestTo(CALLEE).method, "INVITE")

    def test_refused(self) -> None:
        """
        A checker's later refusal is a challenge.
        """
        self.checker.pending[0].errback(UnauthorizedLogin())
        self.assertEqual(finals(self.h)[-1].code, 407)

    def test_cancelledMeanwhile(self) -> None:
        """
        A CANCEL while the credentials are checked gets 200 and the INVITE 487; the
        checker's answer then forwards nothing.
        """
        self.h.fromCaller("\r\n".join([
            "CANCEL %s SIP/2.0" % (INVITE_URI,),
            "Via: SIP/2.0/UDP %s;branch=z9hG4bK-inv-2;rport" % (CALLER.hostport(),),
            "Max-Forwards: 70",
            'From: "alice" <sip:alice@%s>;tag=caller1' % (CALLER.hostport(),),
            "To: <%s>" % (INVITE_URI,),
            "Call-ID: call-1",
            "CSeq: 2 CANCEL",
            "Content-Length: 0",
        ]) + "\r\n\r\n")
        self.assertEqual([(m.code, m.cseq().method) for m in finals(self.h)][-2:],
                         [(200, "CANCEL"), (487, "INVITE")])
        self.checker.pending[0].callback("alice@127.0.0.1")
        self.assertEqual(self.h.to(CALLEE), [])

    def test_checkerBroken(self) -> None:
        """
        A checker that fails unexpectedly gets the request a 500, logged and counted.
        """
        self.checker.pending[0].errback(RuntimeError("database down"))
        self.assertEqual(finals(self.h)[-1].code, 500)
        self.assertEqual(self.h.stats.get("internal_errors"), 1)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class B2BUAAuthTests(SynchronousTestCase):
    """
    The B2BUA challenges new calls and REGISTERs the same way.
    """

    def setUp(self) -> None:
        self.h = B2BUAHarness(["--auth-file", usersFile(self)])

    def test_invite(self) -> None:
        """
        A new call gets 407; with credentials, the B-leg INVITE is sent, without them.
        """
        self.h.fromCaller(self.h.invite())
        response = finals(self.h)[-1]
        self.assertEqual(response.code, 407)
        self.assertEqual(self.h.requestsTo(CALLEE), [])
        self.h.fromCaller(self.h.invite("Proxy-Authorization: " + answer(
            response, "INVITE", INVITE_URI), branch="z9hG4bK-inv-2", cseq=2))
        invites = self.h.requestsTo(CALLEE, "INVITE")
        self.assertEqual(len(invites), 1)
        self.assertFalse(invites[0].hasHeader("proxy-authorization"))
        self.assertEqual(self.h.stats.get("auth_ok"), 1)

    def test_register(self) -> None:
        """
        A REGISTER gets 401; with credentials, 200.
        """
        self.h.fromCaller(register())
        response = finals(self.h)[-1]
        self.assertEqual(response.code, 401)
        self.h.fromCaller(register("alice", "Authorization: " + answer(
            response, "REGISTER", "sip:127.0.0.1", header="www-authenticate"),
            branch="z9hG4bK-reg-2", cseq=2))
        self.assertEqual(finals(self.h)[-1].code, 200)

    def test_trusted(self) -> None:
        """
        From a trusted network, the call goes through unchallenged.
        """
        h = B2BUAHarness(["--auth-file", usersFile(self), "--trusted-network", "127.0.0.1/32"])
        h.fromCaller(h.invite())
        self.assertEqual(len(h.requestsTo(CALLEE, "INVITE")), 1)


class B2BUAAsynchronousCheckerTests(SynchronousTestCase):
    """
    The B2BUA waits for a checker that answers later.
    """

    def setUp(self) -> None:
        self.h = B2BUAHarness(["--auth-file", usersFile(self)])
        authenticator = self.h.b2bua.authenticator
        assert isinstance(authenticator, Authenticator)
        self.checker = SlowChecker()
        authenticator.checker = self.checker
        self.h.fromCaller(self.h.invite())
        value = answer(finals(self.h)[-1], "INVITE", INVITE_URI)
        self.h.fromCaller(self.h.invite("Proxy-Authorization: " + value,
                                        branch="z9hG4bK-inv-2", cseq=2))

    def test_waits(self) -> None:
        """
        No B-leg until the checker answers.
        """
        self.assertEqual(self.h.requestsTo(CALLEE), [])
        self.checker.pending[0].callback("alice@127.0.0.1")
        self.assertEqual(len(self.h.requestsTo(CALLEE, "INVITE")), 1)

    def test_cancelledMeanwhile(self) -> None:
        """
        A call cancelled while its credentials are checked gets no B-leg, and leaves no
        call behind.
        """
        self.h.fromCaller("\r\n".join([
            "CANCEL %s SIP/2.0" % (INVITE_URI,),
            "Via: SIP/2.0/UDP %s;branch=z9hG4bK-inv-2;rport" % (CALLER.hostport(),),
            "Max-Forwards: 70",
            'From: "alice" <sip:alice@%s>;tag=caller1' % (CALLER.hostport(),),
            "To: <%s>" % (INVITE_URI,),
            "Call-ID: call-1",
            "CSeq: 2 CANCEL",
            "Content-Length: 0",
        ]) + "\r\n\r\n")
        self.assertEqual(finals(self.h)[-1].code, 487)
        self.checker.pending[0].callback("alice@127.0.0.1")
        self.assertEqual(self.h.requestsTo(CALLEE), [])
        self.assertEqual(self.h.b2bua.calls, {})

    def test_checkerBroken(self) -> None:
        """
        A checker that fails unexpectedly gets the call a 500.
        """
        self.checker.pending[0].errback(RuntimeError("database down"))
        self.assertEqual(finals(self.h)[-1].code, 500)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
