# -*- test-case-name: sst.test.test_auth -*-
"""
C{sst-passwd [--realm REALM] FILE USER@DOMAIN}: add a user to a users file, or change its
password.

The password is read from standard input: asked twice without echo on a terminal
(L{getpass}), else the first line. Only its C{H(A1)} hashes are written (see
L{sst.auth.checkers}), never the password. The file is replaced atomically: the new text
goes to a temporary file of mode 0600 in the same directory, which is then renamed over
the old one, so that sst never reads half a file.
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys
import tempfile
from typing import IO, Optional, Sequence

from sst.auth.checkers import (
    FILE_ALGORITHMS,
    UserEntry,
    UsersFileError,
    formatEntry,
    parseUsers,
)
from sst.auth.digest import availableAlgorithms, calcHA1

__all__ = ["main", "entryFor", "replaceEntry"]


def entryFor(identity: str, realm: Optional[str], password: str) -> UserEntry:
    """
    @param identity: C{user@domain}.
    @param realm: the realm, or L{None} for the domain.
    @return: the users-file entry: the hashes of every algorithm this Python has.
    @raise ValueError: when C{identity} is not C{user@domain} or has a colon.
    """
    user, at, domain = identity.rpartition("@")
    if not at or not user or not domain or ":" in identity:
        raise ValueError("%r is not user@domain" % (identity,))
    domain = domain.lower()
    realm = realm if realm is not None else domain
    if ":" in realm or not realm:
        raise ValueError("the realm must not be empty or have a colon")
    available = availableAlgorithms()
    hashes = {a: calcHA1(a, user, realm, password) for a in FILE_ALGORITHMS if a in available}
    return UserEntry("%s@%s" % (user, domain), realm, hashes)


def replaceEntry(text: str, entry: UserEntry, path: str = "users file") -> str:
    """
    @return: C{text} (a users file) with C{entry} in place of any line for its identity,
        or added at the end; other lines, comments included, are kept as they are.
    @raise UsersFileError: when C{text}, or the result, does not parse.
    """
    parseUsers(text, path)
    identity = entry.identity
    lines = []
    for line in text.splitlines():
        first = line.strip().split(":", 1)[0]
        if not line.strip().startswith("#") and first.lower() == identity.lower():
            continue
        lines.append(line)
    lines.append(formatEntry(entry))
    result = "\n".join(lines) + "\n"
    parseUsers(result, path)
    return result


def _writeAtomically(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".sst-passwd-", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def _readPassword(stdin: IO[str]) -> str:
    if stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise ValueError("the passwords differ")
        return first
    return stdin.readline().rstrip("\r\n")


def main(argv: Optional[Sequence[str]] = None, stdin: IO[str] = sys.stdin,
         stderr: IO[str] = sys.stderr) -> int:
    """
    The C{sst-passwd} command.

    @return: the exit status: 0, or 1 with one line on C{stderr}.
    """
    parser = argparse.ArgumentParser(
        prog="sst-passwd",
        description="Add a user to an sst users file (--auth-file), or change its password. "
                    "The password is read from standard input.")
    parser.add_argument("--realm", help="the realm (default: the user's domain)")
    parser.add_argument("file", help="the users file (created if missing)")
    parser.add_argument("identity", metavar="USER@DOMAIN", help="the user's address of record")
    args = parser.parse_args(argv)
    try:
        password = _readPassword(stdin)
        if not password:
            raise ValueError("empty password")
        entry = entryFor(args.identity, args.realm, password)
        try:
            with open(args.file, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            text = ""
        _writeAtomically(args.file, replaceEntry(text, entry, args.file))
    except (ValueError, UsersFileError, OSError) as e:
        print("sst-passwd: %s" % (getattr(e, "strerror", None) or e,), file=stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
