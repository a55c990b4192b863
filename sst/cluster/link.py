# -*- test-case-name: sst.test.test_cluster_store -*-
"""
The connection to Redis: L{RedisLink} sends commands and Lua scripts through
U{txredisapi<https://github.com/IlyaSkriblovsky/txredisapi>}, reconnects on its own, and
never lets a caller wait on a server that does not answer.

A command sent while there is no connection fails at once with L{RedisUnavailable}
(txredisapi would queue it until a connection comes back).  A reply that has not come
L{RedisLink.timeout} seconds after its command was sent closes the connection, which fails
every command waiting on it; txredisapi then reconnects with back-off.
"""
from __future__ import annotations

import hashlib
from collections import deque
from typing import Any, Optional, Sequence

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from sst.cluster.config import RedisURL

__all__ = ["RedisLink", "RedisUnavailable", "Script"]


class RedisUnavailable(Exception):
    """
    There is no connection to Redis right now.
    """


class Script:
    """
    A Lua script, run with C{EVALSHA} once Redis knows it.

    @ivar text: its source.
    @ivar sha: its SHA-1, as Redis names it.
    """

    def __init__(self, text: str) -> None:
        self.text = text.encode("utf-8")
        self.sha = hashlib.sha1(self.text).hexdigest().encode("ascii")


def _connect(url: RedisURL, timeout: float) -> Any:
    """
    Start txredisapi's lazy, reconnecting connection to C{url}.
    """
    import txredisapi  # type: ignore[import-untyped]

    tls: Any = False
    if url.tls:
        from twisted.internet.ssl import optionsForClientTLS

        tls = optionsForClientTLS(url.host)
    return txredisapi.lazyConnection(
        url.host, url.port, dbid=url.db or None, reconnect=True, charset=None,
        password=url.password, username=url.username, ssl_context_factory=tls,
        connectTimeout=timeout, convertNumbers=False)


class RedisLink:
    """
    Commands to one Redis server, with failures counted.

    @ivar url: the server.
    @ivar timeout: seconds a reply may take before the connection is given up.
    @ivar failures: how many commands failed (no connection, time-out, error reply).
    @ivar sent: how many commands were sent.
    """

    def __init__(self, url: RedisURL, clock: IReactorTime, timeout: float = 2.0,
                 handler: Optional[Any] = None) -> None:
        """
        @param url: the server.
        @param clock: tells how long replies take.
        @param timeout: see L{timeout}.
        @param handler: a txredisapi connection handler (for tests); by default, a new lazy
            connection to C{url}.
        """
        self.url = url
        self.clock = clock
        self.timeout = timeout
        self.failures = 0
        self.sent = 0
        self.lastError: Optional[str] = None
        self._handler = handler if handler is not None else _connect(url, timeout)
        self._factory = self._handler._factory
        # Send times of the commands waiting for a reply, oldest first (Redis answers in
        # order on a connection).
        self._waiting: deque[float] = deque()
        self._loaded: set[bytes] = set()
        self._closed = False

    def _connection(self) -> Any:
        """
        @return: a usable txredisapi protocol, or L{None}.
        """
        for connection in self._factory.pool:
            if connection.connected and connection._ready:
                return connection
        return None

    @property
    def up(self) -> bool:
        """
        Whether there is a usable connection.
        """
        return self._connection() is not None

    def call(self, *args: bytes | str | int | float) -> Deferred[Any]:
        """
        Send one command.

        @return: its reply (bytes, int, list, or L{None}); it fails with
            L{RedisUnavailable} without a connection, or with txredisapi's error.
        """
        connection = self._connection()
        if connection is None:
            self.failures += 1
            self.lastError = "not connected"
            return fail(RedisUnavailable("no connection to %s" % (self.url,)))
        try:
            d: Deferred[Any] = connection.execute_command(*args)
        except Exception as e:
            self.failures += 1
            self.lastError = str(e)
            return fail(e)
        self.sent += 1
        self._waiting.append(self.clock.seconds())
        d.addBoth(self._answered)
        return d

    def _answered(self, result: Any) -> Any:
        if self._waiting:
            self._waiting.popleft()
        if isinstance(result, Failure):
            self.failures += 1
            self.lastError = result.getErrorMessage()
        return result

    def evaluate(self, script: Script, keys: Sequence[bytes | str],
                 args: Sequence[bytes | str | int | float]) -> Deferred[Any]:
        """
        Run a Lua script: C{EVALSHA}, or C{EVAL} when Redis does not know it (yet, or any
        more after a restart).

        @return: the script's reply.
        """
        if script.sha in self._loaded:
            d = self.call(b"EVALSHA", script.sha, len(keys), *keys, *args)
            d.addErrback(self._unknownScript, script, keys, args)
            return d
        d = self.call(b"EVAL", script.text, len(keys), *keys, *args)
        d.addCallback(self._known, script)
        return d

    def _known(self, result: Any, script: Script) -> Any:
        self._loaded.add(script.sha)
        return result

    def _unknownScript(self, failure: Failure, script: Script, keys: Sequence[bytes | str],
                       args: Sequence[bytes | str | int | float]) -> Any:
        if "NOSCRIPT" not in failure.getErrorMessage():
            return failure
        self.failures -= 1  # not a failure of Redis: run the source instead
        self._loaded.discard(script.sha)
        return self.evaluate(script, keys, args)

    def watch(self) -> None:
        """
        Give up the connection when its oldest reply is late: every command waiting on it
        fails, and txredisapi reconnects.  Called every second or so.
        """
        if self._waiting and self.clock.seconds() - self._waiting[0] > self.timeout:
            connection = self._connection()
            self._waiting.clear()
            self.lastError = "no reply within %g s" % (self.timeout,)
            if connection is not None:
                connection.transport.abortConnection()

    def close(self) -> Deferred[Any]:
        """
        Close the connection for good; closing it again does nothing.
        """
        if self._closed:
            return succeed(None)
        self._closed = True
        return self._handler.disconnect()  # type: ignore[no-any-return]

