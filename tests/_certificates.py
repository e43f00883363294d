"""
Throw-away TLS certificates for the tests, made with C{cryptography}: a
self-signed certificate for C{localhost}, 127.0.0.1 and ::1 that is its own
certificate authority, so a client can trust it as its CA.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import tempfile
from pathlib import Path
from typing import Any

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@attrs.frozen
class CertificateFiles:
    """
    Where L{selfSigned} wrote a certificate and its key.

    @ivar certificate: the PEM certificate file.
    @ivar key: the PEM private key file.
    """

    certificate: Path
    key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    # Elliptic-curve keys are made in a moment, where RSA keys are not.
    return ec.generate_private_key(ec.SECP256R1())


def _keyPEM(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def selfSigned(
    directory: Path,
    names: tuple[str, ...] = ("localhost",),
    addresses: tuple[str, ...] = ("127.0.0.1", "::1"),
    stem: str = "server",
) -> CertificateFiles:
    """
    Make a self-signed certificate, valid from a day ago for a day, that may
    sign others (so that it can be a client's CA), and write it and its key
    as PEM files into C{directory}.

    @param names: the DNS names in its subjectAltName; the first (or else
        the first address) is also its common name.
    @param addresses: the IP addresses in its subjectAltName.
    @param stem: the files are C{<stem>.crt.pem} and C{<stem>.key.pem}.
    @return: the two files.
    """
    key = _key()
    common = (names or addresses)[0]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])
    now = datetime.datetime.now(datetime.timezone.utc)
    alternatives: list[x509.GeneralName] = [x509.DNSName(name) for name in names]
    alternatives += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    files = CertificateFiles(
        directory / f"{stem}.crt.pem", directory / f"{stem}.key.pem"
    )
    files.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(_keyPEM(key))
    return files


def otherKey(path: Path) -> Path:
    """
    Write a fresh private key that belongs to no certificate to C{path}.

    @return: C{path}.
    """
    path.write_bytes(_keyPEM(_key()))
    return path


def temporaryDirectory(testCase: Any) -> Path:
    """
    Make a directory that is removed when C{testCase} ends: unlike trial's
    C{mktemp}, it is not under the current directory, which pytest leaves
    at the root of the source tree.

    @return: the directory.
    """
    directory = Path(tempfile.mkdtemp(prefix="netlab-test-"))
    testCase.addCleanup(shutil.rmtree, directory, True)
    return directory
