"""
SIP digest authentication (RFC 3261 section 22, RFC 8760): the digest arithmetic
(L{sst.auth.digest}), server-bound nonces (L{sst.auth.nonces}), the credentials and the
checkers that verify them through C{twisted.cred} (L{sst.auth.checkers}), the component the
cores ask before they route a request (L{sst.auth.authenticator}), and the C{sst-passwd}
command (L{sst.auth.passwd}).
"""

__all__: list[str] = []
