"""Token signing keys: generated on first use, persisted in the store (so every replica signs with the same key
and publishes the same JWKS), rotated on request. A rotated key stays in the JWKS until the last token it signed
has expired. Each key has a self-signed certificate, published as ``x5c`` as MAA does; ``kid`` is the base64url
SHA-256 of that certificate.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine, select, update

from pydcap.attest import tables as t
from pydcap.cache.store import read_transaction, write_transaction
from pydcap.intel import Clock

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
_RELOAD = 1.0  # seconds a replica trusts its copy of the keys before reading them again


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64url(number: int) -> str:
    return b64url(number.to_bytes((number.bit_length() + 7) // 8 or 1, "big"))


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    private_key: PrivateKey
    certificate: bytes  # DER
    created_at: float
    retired_at: float | None

    def jwk(self) -> dict[str, Any]:
        """The public JWK, with the certificate as ``x5c`` (standard base64 DER)."""
        jwk: dict[str, Any] = {"kid": self.kid, "use": "sig", "alg": self.algorithm}
        public = self.private_key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            numbers = public.public_numbers()
            jwk.update(kty="RSA", n=_int_b64url(numbers.n), e=_int_b64url(numbers.e))
        else:
            point = public.public_numbers()
            jwk.update(
                kty="EC", crv="P-256", x=b64url(point.x.to_bytes(32, "big")), y=b64url(point.y.to_bytes(32, "big"))
            )
        jwk["x5c"] = [base64.b64encode(self.certificate).decode()]
        return jwk


def generate_key(algorithm: str, subject: str, now: float) -> SigningKey:
    """A new key for ``algorithm`` (RS256: RSA 2048; ES256: P-256) with a self-signed certificate naming
    ``subject`` (the issuer URL, as MAA's certificates do)."""
    key: PrivateKey = (
        rsa.generate_private_key(65537, 2048) if algorithm == "RS256" else ec.generate_private_key(ec.SECP256R1())
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject[:64])])
    start = datetime.datetime.fromtimestamp(now, datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - datetime.timedelta(minutes=5))
        .not_valid_after(start + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    return SigningKey(b64url(hashlib.sha256(der).digest()), algorithm, key, der, now, None)


class KeyRing:
    """The keys of one tenant in the database behind ``engine``: ``current()`` signs, ``published()`` is the
    JWKS. Replicas see each other's rotations within a second (``current``) or at once (``published``)."""

    def __init__(
        self, engine: Engine, tenant: str, *, algorithm: str, subject: str, token_lifetime: int, clock: Clock
    ) -> None:
        self.engine = engine
        self.tenant = tenant
        self.algorithm = algorithm
        self.subject = subject
        self.token_lifetime = token_lifetime
        self.clock = clock
        self._keys: list[SigningKey] = []
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def _load(self) -> list[SigningKey]:
        k = t.signing_keys
        with read_transaction(self.engine) as conn:
            rows = conn.execute(select(k).where(k.c.tenant == self.tenant).order_by(k.c.created_at, k.c.kid)).all()
        known = {key.kid: key.private_key for key in self._keys}
        keys = []
        for row in rows:
            private = known.get(row.kid)  # parsing an RSA key costs tens of milliseconds: once per key
            if private is None:
                loaded = serialization.load_pem_private_key(bytes(row.private_key), password=None)
                assert isinstance(loaded, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
                private = loaded
            keys.append(
                SigningKey(row.kid, row.algorithm, private, bytes(row.certificate), row.created_at, row.retired_at)
            )
        return keys

    def _insert(self, key: SigningKey, *, retire_others: bool) -> None:
        k = t.signing_keys
        pem = key.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        with write_transaction(self.engine) as conn:
            if retire_others:
                conn.execute(
                    update(k)
                    .where(k.c.tenant == self.tenant, k.c.retired_at.is_(None))
                    .values(retired_at=key.created_at)
                )
            conn.execute(
                k.insert().values(
                    tenant=self.tenant, kid=key.kid, algorithm=key.algorithm, private_key=pem,
                    certificate=key.certificate, created_at=key.created_at, retired_at=None,
                )
            )  # fmt: skip

    def _refresh(self, *, force: bool = False) -> list[SigningKey]:
        with self._lock:
            now = time.monotonic()
            if force or now - self._loaded_at > _RELOAD:
                keys = self._load()
                if not any(key.retired_at is None for key in keys):
                    self._insert(generate_key(self.algorithm, self.subject, self.clock()), retire_others=False)
                    keys = self._load()
                self._keys, self._loaded_at = keys, now
            return self._keys

    def current(self) -> SigningKey:
        """The newest active key (replicas that started together and each made one agree on it)."""
        active = [key for key in self._refresh() if key.retired_at is None]
        return active[-1]

    def published(self) -> list[SigningKey]:
        """Every key whose tokens may still be valid: the active ones, and retired ones younger than a token."""
        now = self.clock()
        keys = self._refresh(force=True)
        return [k for k in keys if k.retired_at is None or k.retired_at + self.token_lifetime > now]

    def rotate(self) -> SigningKey:
        """Make a new key the signing key now; the old ones are retired (still published until they expire)."""
        key = generate_key(self.algorithm, self.subject, self.clock())
        self._insert(key, retire_others=True)
        self._refresh(force=True)
        return key
