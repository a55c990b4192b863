"""
Tests for L{sst.cluster.config} and the cluster options of C{twistd sst}.
"""
from __future__ import annotations

import socket

from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from sst.cluster.config import RedisURL, defaultNodeId, parseRedisURL
from sst.tap import Options


def parsed(*args: str) -> Options:
    options = Options()
    options.parseOptions(["--state", "none"] + list(args))
    return options


class RedisURLTests(SynchronousTestCase):
    """
    L{parseRedisURL} reads C{redis://} and C{rediss://} URLs.
    """

    def test_full(self) -> None:
        self.assertEqual(parseRedisURL("redis://user:p%40ss@redis.example.com:6380/3"),
                         RedisURL("redis.example.com", 6380, 3, "user", "p@ss", False))

    def test_defaults(self) -> None:
        self.assertEqual(parseRedisURL("redis://127.0.0.1"), RedisURL("127.0.0.1", 6379, 0))

    def test_passwordOnly(self) -> None:
        """
        C{redis://:secret@host} and C{redis://secret@host} both give a password alone.
        """
        self.assertEqual(parseRedisURL("redis://:secret@h").password, "secret")
        url = parseRedisURL("redis://secret@h")
        self.assertEqual((url.username, url.password), (None, "secret"))

    def test_tls(self) -> None:
        url = parseRedisURL("rediss://[::1]:6390/1")
        self.assertEqual((url.host, url.port, url.db, url.tls), ("::1", 6390, 1, True))

    def test_strHidesThePassword(self) -> None:
        self.assertEqual(str(parseRedisURL("redis://:secret@h:1/2")), "redis://***@h:1/2")
        self.assertEqual(str(parseRedisURL("rediss://[::1]")), "rediss://[::1]:6379/0")

    def test_bad(self) -> None:
        for bad in ["http://h", "redis://", "redis://h:99999", "redis://h/x", "redis://h/1?a=b",
                    "redis://h/70000", "h:6379"]:
            self.assertRaises(ValueError, parseRedisURL, bad)

    def test_defaultNodeId(self) -> None:
        self.assertEqual(defaultNodeId(5070), "%s:5070" % (socket.gethostname(),))


class ClusterOptionTests(SynchronousTestCase):
    """
    C{--store} and C{--node-id}.
    """

    def test_none(self) -> None:
        options = parsed()
        self.assertIsNone(options["redis"])

    def test_store(self) -> None:
        options = parsed("--store", "redis://127.0.0.1:6390/2", "--node-id", "n1")
        self.assertEqual(options["redis"], RedisURL("127.0.0.1", 6390, 2))
        self.assertEqual(options["node-id"], "n1")
        self.assertIsNone(options["state"])

    def test_defaultNodeId(self) -> None:
        options = parsed("--store", "redis://h", "--listen", "udp:127.0.0.1:5071")
        self.assertEqual(options["node-id"], "%s:5071" % (socket.gethostname(),))

    def test_badStore(self) -> None:
        e = self.assertRaises(UsageError, parsed, "--store", "mysql://h")
        self.assertIn("--store", str(e))

    def test_nodeIdWithoutStore(self) -> None:
        e = self.assertRaises(UsageError, parsed, "--node-id", "n1")
        self.assertIn("--store redis://", str(e))

    def test_badNodeId(self) -> None:
        for bad in ["", "a b", "x" * 201]:
            e = self.assertRaises(UsageError, parsed, "--store", "redis://h", "--node-id", bad)
            self.assertIn("--node-id", str(e))
