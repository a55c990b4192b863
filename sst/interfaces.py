# -*- test-case-name: sst.test.test_interfaces,sst.test.test_policies -*-
"""
The interfaces that plugins and deployments implement: the session-timer policy
(L{ISessionTimerPolicy}) and its plugin factory (L{ISessionTimerPolicyFactory}), and the
router of initial requests (L{IRouter}), and for digest authentication the credentials
a checker verifies (L{IDigestResponse}) and the checker plugin factory
(L{IAuthCheckerFactory}).

An interface that a layer calls upward lives beside that layer instead (as
L{ISessionTimerHook<sst.proxy.hook.ISessionTimerHook>} beside the proxy core, and
L{IDialogObserver<sst.dialogs.IDialogObserver>} beside the dialog table).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from twisted.cred.credentials import IUsernameDigestHash
from zope.interface import Attribute, Interface

if TYPE_CHECKING:
    from twisted.cred.checkers import ICredentialsChecker
    from twisted.internet.defer import Deferred

    from sst.message import Request
    from sst.values import PolicySettings, Target


class ISessionTimerPolicy(Interface):
    """
    The local session-timer policy: the decisions the seed module took from
    its C{sst_flag}, C{min_se} and C{reject_to_small} parameters, plus the
    interval to request (RFC 4028 section 8.1).

    Each method is asked per request, so a policy may vary its answers by
    destination or caller.  A policy only decides; the
    L{SessionTimerHook<sst.sessiontimer.SessionTimerHook>} applies the RFC
    rules and never lets a value go below 90 seconds.

    L{isTimed} is asked both for the initial INVITE as received and for the
    same INVITE as forwarded (when its 2xx arrives); it must give the same
    answer for both.

    @see: U{https://www.rfc-editor.org/rfc/rfc4028#section-8.1}
    """

    def isTimed(request: Request) -> bool:
        """
        Whether an initial INVITE gets a session timer at all (the seed's
        C{sst_flag}).  An untimed INVITE is forwarded untouched and its
        dialog keeps the default lifetime.

        @param request: an initial INVITE; it must not be changed.
        @return: C{True} to apply RFC 4028 section 8 to it.
        """

    def minSE(request: Request) -> int:
        """
        The smallest session interval this proxy accepts for C{request}, in
        seconds (the seed's C{min_se}): a C{Supported: timer} request asking
        for less may get a 422 carrying it as C{Min-SE}, and a request from a
        UAC without timer support is raised to it.

        @param request: an INVITE or UPDATE; it must not be changed.
        @return: seconds, at least 90 (smaller answers are raised to 90).
        """

    def sessionExpires(request: Request) -> int:
        """
        The session interval to insert into an initial INVITE that carries no
        C{Session-Expires} (the C{--session-expires} option).

        @param request: an initial INVITE without Session-Expires; it must not
            be changed.
        @return: seconds, at least L{minSE} (smaller answers are raised to
            L{minSE} and to the request's own Min-SE).
        """

    def rejectTooSmall(request: Request) -> bool:
        """
        Whether a C{Supported: timer} request whose Session-Expires is below
        L{minSE} is rejected with 422 (the seed's C{reject_to_small}); when
        not, it is forwarded without our changes.  A request from a UAC
        without timer support is never rejected, whatever this says.

        @param request: an INVITE or UPDATE; it must not be changed.
        @return: C{True} to reject with 422.
        """


class IRouter(Interface):
    """
    Decides where initial out-of-dialog requests go.
    """

    def route(request: Request) -> Deferred[list[Target]]:
        """
        Where an initial out-of-dialog request goes, in order of preference;
        an empty list means no route (the proxy answers 404 or 480).

        @param request: the request to route; it is not changed.
        @return: a L{Deferred} that fires with the targets.  It does not fail:
            a router that cannot route answers an empty list.
        """


class ISessionTimerPolicyFactory(Interface):
    """
    A session-timer policy plugin, found with L{twisted.plugin.getPlugins} in the
    L{sst.plugins} package and chosen with C{twistd sst --policy NAME}.
    """

    name = Attribute("The name given to C{--policy}.")
    description = Attribute("One line for C{--help} and error messages.")

    def buildPolicy(settings: PolicySettings) -> ISessionTimerPolicy:
        """
        Make the policy from the command-line settings.

        @raise ValueError: with a clear message when an option is missing or bad; it is
            reported as a usage error at start-up.
        """


class IDigestResponse(IUsernameDigestHash):
    """
    Digest credentials that a SIP request carried (RFC 3261 section 22.4, RFC 8760), for a
    C{twisted.cred} checker that knows C{H(A1)} rather than the password.

    L{checkHash} takes the C{H(A1)} of L{algorithm}: C{H(username ":" realm ":" password)}
    hashed with that algorithm, in lower-case hex.
    """

    realm = Attribute("The realm the credentials are for, as the client sent it.")
    algorithm = Attribute("C{MD5}, C{SHA-256} or C{SHA-512-256}: the hash of L{checkHash}.")

    def checkPassword(password: str) -> bool:
        """
        For checkers that hold clear passwords: whether the response was made with
        C{password}.
        """


class IAuthCheckerFactory(Interface):
    """
    A credentials-checker plugin for digest authentication, found with
    L{twisted.plugin.getPlugins} in the L{sst.plugins} package and chosen with
    C{twistd sst --auth-checker NAME}.
    """

    name = Attribute("The name given to C{--auth-checker}.")
    description = Attribute("One line for C{--help} and error messages.")

    def checkerFor(options: Mapping[str, Any]) -> ICredentialsChecker:
        """
        Make the checker from the parsed command line (C{--auth-file},
        C{--auth-checker-option KEY=VALUE} in C{options["auth-checker-option"]}). Its
        C{requestAvatarId} is given L{IDigestResponse} credentials and fires with the
        authenticated identity, C{user@domain}, or fails with
        L{UnauthorizedLogin<twisted.cred.error.UnauthorizedLogin>} whether the user is
        unknown or the response wrong.

        @raise ValueError: with a clear message when an option is missing or bad, or the
            users cannot be read; it is reported as a usage error at start-up.
        """
