# -*- test-case-name: sst.test.test_registrar -*-
"""
A registrar and its location service (RFC 3261 section 10).

A L{LocationService} maps addresses-of-record to L{Binding}s and gives each
binding one L{IDelayedCall} for its expiry.  A L{Registrar} turns REGISTER
requests into changes of the location service and builds their responses.

@see: U{https://www.rfc-editor.org/rfc/rfc3261#section-10.3}
"""

from __future__ import annotations

import math
import secrets
from typing import Any, Callable, Iterable, Iterator, Optional

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from sst.timerservice import asTimerService
from sst.headers import (
    MAX_DELTA_SECONDS,
    NameAddr,
    SIPParseError,
    URI,
    parseDeltaSeconds,
    parseNameAddr,
)
from sst.message import Request, Response
from sst.responses import makeResponse

__all__ = [
    "Binding",
    "LocationService",
    "LocationServiceFull",
    "Registrar",
    "aorForURI",
]


def aorForURI(uri: URI) -> str:
    """
    The key of the address-of-record C{uri} names in a L{LocationService}.

    C{sip} and C{sips} URIs become C{"sip:user@host"} (or C{"sip:host"}
    without a user part): the host lower-cased, IPv6 hosts bracketed, and the
    port, parameters and headers dropped.  C{tel} URIs become C{"tel:number"};
    other URIs are kept as they are.

    @param uri: a To header's or a Request-URI's URI.
    @return: the normalized address-of-record.
    """
    if uri.isSIP:
        host = uri.host.lower()
        if ":" in host:
            host = "[%s]" % (host,)
        if uri.user is None:
            return "sip:%s" % (host,)
        return "sip:%s@%s" % (uri.user, host)
    if uri.scheme == "tel":
        return "tel:%s" % (uri.user or "",)
    return str(uri)


class Binding:
    """
    One contact address registered for an address-of-record.

    A binding returned by L{LocationService} belongs to it: read it, do not
    change it.

    @ivar contact: the Contact URI, as text.
    @ivar expiresAt: when the binding expires, in clock seconds.
    @ivar callId: the Call-ID of the REGISTER that last updated it.
    @ivar cseq: the CSeq number of the REGISTER that last updated it.
    """

    __slots__ = ("contact", "expiresAt", "callId", "cseq")

    def __init__(self, contact: str, expiresAt: float, callId: str, cseq: int) -> None:
        self.contact = contact
        self.expiresAt = expiresAt
        self.callId = callId
        self.cseq = cseq

    def __repr__(self) -> str:
        return "<Binding %s expiresAt=%r callId=%r cseq=%d>" % (
            self.contact,
            self.expiresAt,
            self.callId,
            self.cseq,
        )


class LocationServiceFull(Exception):
    """
    A new binding was refused because the location service holds its maximum
    number of bindings.
    """


class LocationService:
    """
    The bindings of addresses-of-record to contact addresses.

    Addresses-of-record are the normalized strings L{aorForURI} returns.  Each
    binding has one L{IDelayedCall}, reset when the binding is refreshed and
    cancelled when it is removed, that removes it when it expires.

    @ivar clock: schedules expiries and tells the time.
    @ivar maxBindings: the most bindings held at once.
    """

    _log = Logger()

    def __init__(self, clock: IReactorTime, maxBindings: int = 100000) -> None:
        """
        @param clock: schedules expiries and tells the time.
        @param maxBindings: the most bindings held at once (at least 1).
        @raise ValueError: when C{maxBindings} is below 1.
        """
        if maxBindings < 1:
            raise ValueError("maxBindings must be at least 1")
        self.clock = asTimerService(clock)
        self.maxBindings = maxBindings
        self._bindings: dict[str, dict[str, tuple[Binding, IDelayedCall]]] = {}
        self._count = 0
        #: Told of each change made by L{bind}, L{unbind} and L{unbindAll}, as a list that
        #: L{replay} applies (how workers share registrations), or L{None}.
        self.listener: Optional[Callable[[list[Any]], None]] = None

    def __len__(self) -> int:
        """
        @return: the number of bindings, over all addresses-of-record.
        """
        return self._count

    def bind(self, aor: str, contact: str, expires: int, callId: str, cseq: int) -> Binding:
        """
        Add or refresh the binding of C{aor} to C{contact}.

        A refresh moves the binding's expiry (resetting its delayed call) and
        makes it the newest binding of C{aor}.

        @param aor: the address-of-record, from L{aorForURI}.
        @param contact: the contact URI, as text; bindings are matched on it
            exactly.
        @param expires: the binding's lifetime in seconds (above 0).
        @param callId: the Call-ID of the REGISTER.
        @param cseq: the CSeq number of the REGISTER.
        @return: the binding.
        @raise ValueError: when C{expires} is not positive.
        @raise LocationServiceFull: when the binding is new and the service
            already holds L{maxBindings} bindings.
        """
        if expires <= 0:
            raise ValueError("expires must be positive, not %r" % (expires,))
        expiresAt = self.clock.seconds() + expires
        contacts = self._bindings.get(aor)
        entry = contacts.pop(contact, None) if contacts is not None else None
        if entry is not None and contacts is not None:
            binding, call = entry
            binding.expiresAt = expiresAt
            binding.callId = callId
            binding.cseq = cseq
            call.reset(expires)
            contacts[contact] = entry
            self._log.debug(
                "Refreshed {contact} for {aor}, {expires}s",
                contact=contact,
                aor=aor,
                expires=expires,
            )
            self._changed(["bind", aor, contact, expires, callId, cseq])
            return binding
        if self._count >= self.maxBindings:
            raise LocationServiceFull(self.maxBindings)
        binding = Binding(contact, expiresAt, callId, cseq)
        call = self.clock.callLater(expires, self._expire, aor, contact)
        self._bindings.setdefault(aor, {})[contact] = (binding, call)
        self._count += 1
        self._log.info(
            "Bound {contact} to {aor} for {expires}s", contact=contact, aor=aor, expires=expires
        )
        self._changed(["bind", aor, contact, expires, callId, cseq])
        return binding

    def unbind(self, aor: str, contact: str) -> bool:
        """
        Remove the binding of C{aor} to C{contact}, cancelling its expiry.

        @return: whether there was such a binding.
        """
        entry = self._remove(aor, contact)
        if entry is None:
            return False
        self._changed(["unbind", aor, contact])
        entry[1].cancel()
        self._log.info("Unbound {contact} from {aor}", contact=contact, aor=aor)
        return True

    def unbindAll(self, aor: str) -> int:
        """
        Remove every binding of C{aor}, cancelling their expiries.

        @return: how many bindings were removed.
        """
        contacts = self._bindings.pop(aor, None)
        if contacts is None:
            return 0
        self._changed(["unbindAll", aor])
        for binding, call in contacts.values():
            call.cancel()
        self._count -= len(contacts)
        self._log.info("Unbound all {count} contacts from {aor}", count=len(contacts), aor=aor)
        return len(contacts)

    def lookup(self, aor: str) -> list[Binding]:
        """
        @param aor: the address-of-record, from L{aorForURI}.
        @return: the unexpired bindings of C{aor}, most recently registered or
            refreshed first.
        """
        contacts = self._bindings.get(aor)
        if not contacts:
            return []
        now = self.clock.seconds()
        return [b for b, _ in reversed(contacts.values()) if b.expiresAt > now]

    def items(self) -> Iterator[tuple[str, Binding]]:
        """
        @return: every binding with its address-of-record.
        """
        for aor, contacts in list(self._bindings.items()):
            for binding, _ in list(contacts.values()):
                yield aor, binding

    def replay(self, change: list[Any]) -> None:
        """
        Apply a change a L{listener} was told of elsewhere, without telling this one's.

        @param change: C{["bind", aor, contact, expires, callId, cseq]},
            C{["unbind", aor, contact]} or C{["unbindAll", aor]}.
        @raise ValueError: on anything else.
        """
        listener, self.listener = self.listener, None
        try:
            operation, arguments = change[0], change[1:]
            if operation == "bind" and len(arguments) == 5:
                aor, contact, expires, callId, cseq = arguments
                try:
                    self.bind(str(aor), str(contact), int(expires), str(callId), int(cseq))
                except LocationServiceFull:
                    self._log.warn("Location service full: a shared binding of {aor} dropped",
                                   aor=aor)
            elif operation == "unbind" and len(arguments) == 2:
                self.unbind(str(arguments[0]), str(arguments[1]))
            elif operation == "unbindAll" and len(arguments) == 1:
                self.unbindAll(str(arguments[0]))
            else:
                raise ValueError("not a location change: %r" % (change,))
        finally:
            self.listener = listener

    def clear(self) -> None:
        """
        Remove every binding and cancel every expiry (for shutting down).
        """
        for contacts in self._bindings.values():
            for binding, call in contacts.values():
                call.cancel()
        self._bindings.clear()
        self._count = 0

    def _changed(self, change: list[Any]) -> None:
        """
        Tell the L{listener} of a change; its errors are logged, never raised.
        """
        if self.listener is None:
            return
        try:
            self.listener(change)
        except Exception:
            self._log.failure("Sharing a location change failed")

    def _remove(self, aor: str, contact: str) -> Optional[tuple[Binding, IDelayedCall]]:
        """
        Forget a binding, without touching its delayed call.
        """
        contacts = self._bindings.get(aor)
        if contacts is None:
            return None
        entry = contacts.pop(contact, None)
        if entry is None:
            return None
        if not contacts:
            del self._bindings[aor]
        self._count -= 1
        return entry

    def _expire(self, aor: str, contact: str) -> None:
        """
        The delayed call of a binding fired: remove the binding.
        """
        if self._remove(aor, contact) is not None:
            self._log.info("Binding of {contact} to {aor} expired", contact=contact, aor=aor)


def _parseExpires(text: str, what: str) -> int:
    """
    Parse an Expires header or C{expires} parameter; a value that overflows
    counts as the largest (RFC 3261 section 20.19 and 10.2.1.1).

    @raise SIPParseError: when C{text} is not a decimal number.
    """
    try:
        return parseDeltaSeconds(text, what)
    except SIPParseError:
        stripped = text.strip()
        if stripped.isascii() and stripped.isdigit():
            return MAX_DELTA_SECONDS
        raise


class Registrar:
    """
    Answers REGISTER requests for a set of domains (RFC 3261 section 10.3).

    The lifetime of a binding is the contact's C{expires} parameter, else the
    request's Expires header, else C{defaultExpires}; a lifetime above
    C{maxExpires} is lowered to it, and a non-zero lifetime below
    C{minExpires} gets a 423 naming C{minExpires}.

    @ivar locations: the location service the registrar updates.
    @ivar defaultExpires: the lifetime of a binding whose REGISTER names none.
    @ivar minExpires: the shortest non-zero lifetime accepted.
    @ivar maxExpires: the longest lifetime granted.
    """

    _log = Logger()

    def __init__(
        self,
        locations: LocationService,
        domains: Iterable[str],
        defaultExpires: int = 3600,
        minExpires: int = 60,
        maxExpires: int = 86400,
    ) -> None:
        """
        @param locations: the location service to update.
        @param domains: the host parts of the addresses-of-record served.
        @param defaultExpires: see L{defaultExpires}.
        @param minExpires: see L{minExpires}.
        @param maxExpires: see L{maxExpires}.
        @raise ValueError: unless C{1 <= minExpires <= defaultExpires <= maxExpires}.
        """
        if not 1 <= minExpires <= defaultExpires <= maxExpires:
            raise ValueError("need 1 <= minExpires <= defaultExpires <= maxExpires")
        self.locations = locations
        self._domains = frozenset(_normalizeHost(d) for d in domains)
        self.defaultExpires = defaultExpires
        self.minExpires = minExpires
        self.maxExpires = maxExpires

    def servesDomain(self, host: str) -> bool:
        """
        @param host: a host name or address, any case; IPv6 addresses with or
            without brackets.
        @return: whether addresses-of-record in C{host} are registered here.
        """
        return _normalizeHost(host) in self._domains

    def handleRegister(self, request: Request) -> Response:
        """
        Apply a REGISTER to the location service and build its response.

        A REGISTER without Contact only asks for the current bindings.  The
        200 response lists every current binding of the address-of-record as
        C{Contact: <uri>;expires=N}, N the seconds it has left.  Errors are
        answered with 400 (a malformed Contact, Expires or CSeq, or a
        misused C{*}), 404 (an address-of-record outside our domains), 423
        (a lifetime too brief, with Min-Expires) or 503 (the location
        service is full); no binding changes then.

        A contact whose binding was last updated by a REGISTER with the same
        Call-ID and a CSeq not lower than this one's is left unchanged.

        The caller has already checked that the Request-URI is in one of our
        domains (L{servesDomain}); other requests get a 405 with Allow.

        @param request: a REGISTER request.
        @return: the response to send.
        """
        tag = secrets.token_hex(8)
        if request.method != "REGISTER":
            response = makeResponse(request, 405, toTag=tag)
            response.setHeader("Allow", "REGISTER")
            return response
        try:
            to = request.toAddr()
            callId = request.callId
            cseq = request.cseq().number
            expiresHeader = request.header("expires")
            headerExpires = (
                None if expiresHeader is None else _parseExpires(expiresHeader, "Expires")
            )
            contactValues = request.headerValues("contact")
        except SIPParseError as e:
            return makeResponse(request, 400, e.reason, toTag=tag)
        if not to.uri.isSIP or not self.servesDomain(to.uri.host):
            return makeResponse(request, 404, "Not Found", toTag=tag)
        aor = aorForURI(to.uri)

        if any(value.strip() == "*" for value in contactValues):
            if len(contactValues) != 1 or headerExpires != 0:
                return makeResponse(
                    request, 400, "Contact * needs Expires: 0 and no other Contact", toTag=tag
                )
            for binding in self.locations.lookup(aor):
                if not _isStale(binding, callId, cseq):
                    self.locations.unbind(aor, binding.contact)
            return self._ok(request, aor, tag)

        try:
            updates = self._updates(contactValues, headerExpires)
        except SIPParseError as e:
            return makeResponse(request, 400, e.reason, toTag=tag)
        if any(0 < expires < self.minExpires for expires in updates.values()):
            response = makeResponse(request, 423, "Interval Too Brief", toTag=tag)
            response.setHeader("Min-Expires", str(self.minExpires))
            return response

        current = {b.contact: b for b in self.locations.lookup(aor)}
        new = sum(1 for c, e in updates.items() if e > 0 and c not in current)
        if len(self.locations) + new > self.locations.maxBindings:
            self._log.warn("Location service full: refused REGISTER for {aor}", aor=aor)
            return makeResponse(request, 503, "Service Unavailable", toTag=tag)
        for contact, expires in updates.items():
            existing = current.get(contact)
            if existing is not None and _isStale(existing, callId, cseq):
                continue
            if expires == 0:
                self.locations.unbind(aor, contact)
            else:
                self.locations.bind(aor, contact, expires, callId, cseq)
        return self._ok(request, aor, tag)

    def _updates(self, contactValues: list[str], headerExpires: Optional[int]) -> dict[str, int]:
        """
        Parse the Contact elements of a REGISTER.

        @return: the lifetime asked for each contact URI (its text as the
            location service stores it), clamped to L{maxExpires}.
        @raise SIPParseError: on a malformed Contact or C{expires} parameter.
        """
        updates: dict[str, int] = {}
        for value in contactValues:
            contact: NameAddr = parseNameAddr(value)
            if "expires" in contact.params:
                param = contact.params["expires"]
                if param is None:
                    raise SIPParseError("expires parameter without a value")
                expires = _parseExpires(param, "expires")
            elif headerExpires is not None:
                expires = headerExpires
            else:
                expires = self.defaultExpires
            updates[str(contact.uri)] = min(expires, self.maxExpires)
        return updates

    def _ok(self, request: Request, aor: str, tag: str) -> Response:
        """
        Build the 200 response listing the current bindings of C{aor}.
        """
        response = makeResponse(request, 200, toTag=tag)
        now = self.locations.clock.seconds()
        for binding in self.locations.lookup(aor):
            remaining = max(1, math.ceil(binding.expiresAt - now))
            response.addHeader("Contact", "<%s>;expires=%d" % (binding.contact, remaining))
        return response


def _isStale(binding: Binding, callId: str, cseq: int) -> bool:
    """
    @return: whether a REGISTER with C{callId} and C{cseq} is older than (or
        the same as) the one that last updated C{binding} (RFC 3261 section
        10.3, step 7).
    """
    return binding.callId == callId and cseq <= binding.cseq


def _normalizeHost(host: str) -> str:
    """
    @return: C{host} lower-cased, without IPv6 brackets or a trailing dot.
    """
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host.rstrip(".")
