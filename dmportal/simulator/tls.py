"""A local CA and a server certificate for 127.0.0.1 / localhost, kept in the state directory.

Created on first use and reused on later starts; regenerated when a file is missing, unreadable,
expired (or within a day of it) or no longer issued by the CA on disk. The dashboard trusts the
simulator through ``ca.pem`` as a CA bundle, never by turning verification off.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "dmportal simulator local CA"
HOSTS = ("localhost",)
IPS = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class CertPaths:
    ca_cert: Path
    server_cert: Path
    server_key: Path


def paths(state_dir: Path) -> CertPaths:
    return CertPaths(state_dir / "ca.pem", state_dir / "server.pem", state_dir / "server-key.pem")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write(path: Path, data: bytes, private: bool = False) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _usable(p: CertPaths) -> bool:
    try:
        ca = x509.load_pem_x509_certificate(p.ca_cert.read_bytes())
        cert = x509.load_pem_x509_certificate(p.server_cert.read_bytes())
        key = serialization.load_pem_private_key(p.server_key.read_bytes(), password=None)
    except (OSError, ValueError):
        return False
    soon = _now() + dt.timedelta(days=1)
    if min(ca.not_valid_after_utc, cert.not_valid_after_utc) < soon:
        return False
    if cert.issuer != ca.subject or cert.public_key() != key.public_key():
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except Exception:  # any failure means: regenerate
        return False
    return True


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _generate(p: CertPaths) -> None:
    now = _now()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(h) for h in HOSTS] + [x509.IPAddress(ipaddress.ip_address(i)) for i in IPS]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=397))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    _write(p.ca_cert, ca.public_bytes(pem))
    _write(p.server_cert, cert.public_bytes(pem))
    _write(
        p.server_key,
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        private=True,
    )
    # The CA's private key is not kept: certificates are cheap to make again, and a CA key on
    # disk could sign certificates for any host a developer's browser might trust it for.


def ensure_certificates(state_dir: Path) -> CertPaths:
    state_dir.mkdir(parents=True, exist_ok=True)
    p = paths(state_dir)
    # Two simulators starting at once (parallel tests) must not interleave their writes.
    with open(state_dir / ".tls.lock", "a") as lock, contextlib.ExitStack() as stack:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stack.callback(fcntl.flock, lock, fcntl.LOCK_UN)
        if not _usable(p):
            _generate(p)
    return p


def server_context(p: CertPaths) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(p.server_cert, p.server_key)
    return ctx
