"""A pydcap server's TLS certificate: the configured one, or a self-signed one made on first start and kept (key
readable by its owner only) so that clients can pin its SHA-256 fingerprint across restarts. Shared by the PCCS
and the attestation service, each with its own file names.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    generated: bool

    @property
    def fingerprint(self) -> str:
        """``AB:CD:...``: SHA-256 of the certificate (what ``openssl x509 -fingerprint -sha256`` prints)."""
        cert = x509.load_pem_x509_certificate(self.cert.read_bytes())
        return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


def self_signed(host: str, service: str = "PCCS") -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) for ``localhost``, this host's name, 127.0.0.1, ::1 and ``host``;
    the subject names the ``service``."""
    key = ec.generate_private_key(ec.SECP256R1())
    hostname = socket.gethostname()
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.DNSName(hostname)]
    addresses = {"127.0.0.1", "::1"}
    try:
        addresses.add(str(ipaddress.ip_address(host)))
    except ValueError:
        if host not in ("localhost", hostname):
            names.append(x509.DNSName(host))
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in sorted(addresses) if a not in ("0.0.0.0", "::")]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"pydcap {service} on {hostname}")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def self_signed_paths(directory: Path, prefix: str = "pccs") -> tuple[Path, Path]:
    """Where ``ensure_tls_files`` keeps a self-signed pair: (certificate, key)."""
    return directory / f"{prefix}-tls-cert.pem", directory / f"{prefix}-tls-key.pem"


def ensure_tls_files(
    cert: str, key: str, directory: Path, host: str, *, prefix: str = "pccs", service: str = "PCCS"
) -> TlsFiles:
    """The configured files, else the self-signed pair ``<prefix>-tls-cert.pem`` / ``<prefix>-tls-key.pem`` in
    ``directory`` (made now if missing, for ``service``)."""
    if cert and key:
        return TlsFiles(Path(cert), Path(key), generated=False)
    cert_path, key_path = self_signed_paths(directory, prefix)
    if cert_path.exists() and key_path.exists():
        return TlsFiles(cert_path, key_path, generated=False)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert_pem, key_pem = self_signed(host, service)
    fd = os.open(key_path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    cert_path.write_bytes(cert_pem)
    return TlsFiles(cert_path, key_path, generated=True)
