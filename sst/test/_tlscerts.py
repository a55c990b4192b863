"""
Throwaway certificates for the TLS tests: a CA and the certificates it signs, written as PEM
files in a temporary directory.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from typing import Optional, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["Authority", "Issued"]

_KEY_FORMAT = serialization.PrivateFormat.PKCS8


@dataclass
class Issued:
    """
    A certificate and its key, as PEM files.

    @ivar cert: the certificate file (the leaf only).
    @ivar key: the key file (unencrypted).
    """

    cert: str
    key: str


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return builder.not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(
        now + datetime.timedelta(days=30))


def _writeKey(path: str, key: ec.EllipticCurvePrivateKey) -> None:
    with open(path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, _KEY_FORMAT,
                                  serialization.NoEncryption()))


class Authority:
    """
    A certificate authority made for one test, in C{directory}.

    @ivar cert: the CA certificate's PEM file.
    """

    def __init__(self, directory: str, name: str = "sst test CA") -> None:
        self.directory = directory
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = _name(name)
        builder = _validity(x509.CertificateBuilder()
                            .subject_name(self._name).issuer_name(self._name)
                            .public_key(self._key.public_key())
                            .serial_number(x509.random_serial_number()))
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None),
                                        critical=True)
        self._cert = builder.sign(self._key, hashes.SHA256())
        slug = name.replace(" ", "-")
        self.cert = os.path.join(directory, "%s.pem" % (slug,))
        with open(self.cert, "wb") as f:
            f.write(self._cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, hosts: Sequence[str] = ("localhost",),
              addresses: Sequence[str] = ("127.0.0.1",), chain: bool = False,
              keyFile: Optional[str] = None) -> Issued:
        """
        Issue a certificate for C{hosts} (DNS names) and C{addresses} (IP addresses).

        @param name: the file names' stem.
        @param chain: append the CA certificate to the certificate file.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = [x509.DNSName(h) for h in hosts]
        names += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
        builder = _validity(x509.CertificateBuilder()
                            .subject_name(_name(hosts[0] if hosts else addresses[0]))
                            .issuer_name(self._name).public_key(key.public_key())
                            .serial_number(x509.random_serial_number()))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                        critical=True)
        cert = builder.sign(self._key, hashes.SHA256())
        certPath = os.path.join(self.directory, "%s.crt" % (name,))
        keyPath = keyFile or os.path.join(self.directory, "%s.key" % (name,))
        with open(certPath, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
            if chain:
                f.write(self._cert.public_bytes(serialization.Encoding.PEM))
        _writeKey(keyPath, key)
        return Issued(certPath, keyPath)
