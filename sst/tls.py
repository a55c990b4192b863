# -*- test-case-name: sst.test.test_tls,sst.test.test_tls_network -*-
"""
SIP over TLS (RFC 3261 section 26.2, RFC 5630): the C{--tls-*} options, the certificate and
key sst presents, and how it checks the servers it connects to.

TLS is a transport beside UDP and TCP: the same stream framing
(L{SIPStreamProtocol<sst.protocol.SIPStreamProtocol>}) under a TLS layer, on Twisted's TLS
over pyOpenSSL. L{TLSSettings} is what the command line says; L{loadTLS} reads the files
into a L{TLSContexts}, which gives the context of the listening sockets and, per server, the
connection creator of outgoing connections. Those verify the server's certificate (chain and
name, or numeric address) against the platform's trust store or C{--tls-ca}, unless
C{--tls-no-verify}.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL, crypto
from twisted.internet import ssl
from twisted.internet._sslverify import IOpenSSLTrustRoot
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.python import usage
from zope.interface import implementer

from sst.address import Address

__all__ = ["TLS_PARAMETERS", "TLS_FLAGS", "TLSSettings", "TLSContexts", "TLSError",
           "tlsSettingsFrom", "loadTLS"]

#: The C{optParameters} rows of the C{--tls-*} options.
TLS_PARAMETERS = [
    ["tls-cert", None, None, "PEM file of the certificate sst presents over TLS, followed by "
     "its chain, if any (needed by --listen tls:...)."],
    ["tls-key", None, None, "PEM file of the private key of --tls-cert (unencrypted)."],
    ["tls-ca", None, None, "PEM file of the CA certificates that outgoing TLS connections "
     "trust (default: the platform's trust store)."],
]

#: The C{optFlags} rows of the C{--tls-*} options.
TLS_FLAGS = [
    ["tls-no-verify", None, "Do not verify the certificates of the servers sst connects to "
     "over TLS (anyone in the path can then read and change the calls; tests only)."],
]


@implementer(IOpenSSLClientConnectionCreator)
class _Unverified:
    """
    The connection creator of C{--tls-no-verify}: TLS, without any check of the server.
    """

    def __init__(self, clientCertificate: Optional[ssl.PrivateCertificate]) -> None:
        if clientCertificate is None:
            options = ssl.CertificateOptions(verify=False)
        else:
            options = ssl.CertificateOptions(
                privateKey=clientCertificate.privateKey.original,
                certificate=clientCertificate.original, verify=False)
        self._context = options.getContext()

    def clientConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        """
        See L{IOpenSSLClientConnectionCreator}.
        """
        connection = SSL.Connection(self._context, None)
        connection.set_app_data(tlsProtocol)
        return connection


class TLSError(Exception):
    """
    The TLS files cannot be used: the message says which file and why, in one line.
    """


@dataclass(frozen=True)
class TLSSettings:
    """
    The C{--tls-*} options, checked for presence, not yet read.

    @ivar certFile: the C{--tls-cert} path, or L{None}.
    @ivar keyFile: the C{--tls-key} path, or L{None}.
    @ivar caFile: the C{--tls-ca} path, or L{None} for the platform's trust store.
    @ivar verify: whether outgoing connections check the server's certificate.
    """

    certFile: Optional[str] = None
    keyFile: Optional[str] = None
    caFile: Optional[str] = None
    verify: bool = True


def tlsSettingsFrom(options: Mapping[str, Any], listen: Sequence[Address]) -> TLSSettings:
    """
    Check the C{--tls-*} options.

    @param options: the parsed options.
    @param listen: the C{--listen} addresses.
    @raise usage.UsageError: when a C{tls:} address has no C{--tls-cert} and C{--tls-key},
        or one of these two is given without the other.
    """
    cert, key = options.get("tls-cert"), options.get("tls-key")
    if (cert is None) != (key is None):
        raise usage.UsageError("--tls-cert and --tls-key go together")
    if cert is None and any(address.transport == "tls" for address in listen):
        raise usage.UsageError("--listen tls:... needs --tls-cert and --tls-key")
    return TLSSettings(cert, key, options.get("tls-ca"), not options.get("tls-no-verify"))


def _read(kind: str, path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise TLSError("%s %s: %s" % (kind, path, e.strerror or e))


def _certificates(kind: str, path: str) -> list[x509.Certificate]:
    """
    @return: the certificates of a PEM file, in order.
    @raise TLSError: when it cannot be read or holds none.
    """
    data = _read(kind, path)
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise TLSError("%s %s: no PEM certificate in it" % (kind, path))
    return certificates


def _privateKey(path: str) -> crypto.PKey:
    data = _read("--tls-key", path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise TLSError("--tls-key %s: the key is encrypted; sst needs it unencrypted" % (path,))
    except (ValueError, Exception) as e:
        raise TLSError("--tls-key %s: not a PEM private key (%s)" % (path, str(e).split("\n")[0]))
    return crypto.PKey.from_cryptography_key(key)  # type: ignore[arg-type]


class TLSContexts:
    """
    The TLS contexts of one sst process, made once at start-up.

    @ivar settings: what they were made from.
    @ivar serverOptions: the context factory of the listening sockets (and the client
        certificate of outgoing connections), or L{None} without C{--tls-cert}.
    """

    def __init__(self, settings: TLSSettings, serverOptions: Optional[ssl.CertificateOptions],
                 trustRoot: Optional[IOpenSSLTrustRoot],
                 clientCertificate: Optional[ssl.PrivateCertificate]) -> None:
        self.settings = settings
        self.serverOptions = serverOptions
        self._trustRoot = trustRoot
        self._clientCertificate = clientCertificate
        self._creators: dict[str, IOpenSSLClientConnectionCreator] = {}

    def clientCreator(self, host: str) -> IOpenSSLClientConnectionCreator:
        """
        @param host: the server's host name or numeric address (no brackets), which its
            certificate must name.
        @return: what wraps an outgoing connection to C{host} in TLS; remembered per host.
        """
        creator = self._creators.get(host)
        if creator is None:
            if not self.settings.verify:
                creator = _Unverified(self._clientCertificate)
            else:
                creator = ssl.optionsForClientTLS(host, trustRoot=self._trustRoot,
                                                  clientCertificate=self._clientCertificate)
            if len(self._creators) >= 4096:
                self._creators.clear()
            self._creators[host] = creator
        return creator


def loadTLS(settings: TLSSettings) -> TLSContexts:
    """
    Read the certificate, key and CA files, and check that the key is the certificate's.

    @raise TLSError: when a file cannot be read or parsed, or the key does not match.
    """
    serverOptions: Optional[ssl.CertificateOptions] = None
    clientCertificate: Optional[ssl.PrivateCertificate] = None
    if settings.certFile is not None and settings.keyFile is not None:
        chain = _certificates("--tls-cert", settings.certFile)
        key = _privateKey(settings.keyFile)
        certificates = [crypto.X509.from_cryptography(c) for c in chain]
        try:
            serverOptions = ssl.CertificateOptions(
                privateKey=key, certificate=certificates[0], extraCertChain=certificates[1:])
            serverOptions.getContext()  # Checks that the key is the certificate's.
        except (SSL.Error, ValueError) as e:
            raise TLSError("--tls-key %s does not match the certificate of --tls-cert %s (%s)"
                           % (settings.keyFile, settings.certFile, _sslReason(e)))
        fromPair = ssl.PrivateCertificate.fromCertificateAndKeyPair
        clientCertificate = fromPair(  # type: ignore[no-untyped-call]
            ssl.Certificate(certificates[0]), ssl.KeyPair(key))  # type: ignore[no-untyped-call]
    trustRoot: Optional[IOpenSSLTrustRoot] = None
    if settings.caFile is not None:
        authorities = _certificates("--tls-ca", settings.caFile)
        trustRoot = ssl.trustRootFromCertificates(  # type: ignore[no-untyped-call]
            [ssl.Certificate(crypto.X509.from_cryptography(c))  # type: ignore[no-untyped-call]
             for c in authorities])
    return TLSContexts(settings, serverOptions, trustRoot, clientCertificate)


def _sslReason(error: Exception) -> str:
    """
    @return: the first reason OpenSSL gives for C{error}, in a few words.
    """
    args = getattr(error, "args", ())
    if args and isinstance(args[0], list) and args[0]:
        entry = args[0][0]
        if isinstance(entry, tuple) and entry:
            return str(entry[-1])
    return str(error) or type(error).__name__
