"""Measuring on a shared, noisy machine: CPU time, contenders alternated in short chunks, rounds reported as ranges.

Used by ``verify.py`` and ``fleet.py``; also the ECDSA checks and key objects a call makes, and the speed of each.
"""

from __future__ import annotations

import cProfile
import pstats
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pydcap.pki import native

T = TypeVar("T")

NATIVE = "pydcap native"
"""The contender that is pydcap with the native accelerator on (``make native``), beside plain "pydcap"."""
_MODES: Mapping[str, Callable[[], object]] = {"pydcap": native.disable, NATIVE: native.enable}


def accelerator() -> bool:
    """Whether the native accelerator is built (``make native``); it is measured as a third contender if so."""
    try:
        native.enable()
    except native.NativeUnavailableError:
        return False
    native.disable()
    return True


def alternated(
    contenders: Mapping[str, Callable[[T], object]],
    items: Sequence[T],
    chunk: int,
) -> dict[str, float]:
    """CPU seconds each contender spends on all ``items``, run chunk by chunk in turn (who goes first alternates),
    so that a change in the machine's load hits every contender alike. The contender named ``NATIVE`` runs with the
    native accelerator on and the one named "pydcap" with it off, switched untimed before each of their chunks; it
    is off again at the end."""
    spent = dict.fromkeys(contenders, 0.0)
    names = list(contenders)
    for number, start in enumerate(range(0, len(items), chunk)):
        part = items[start : start + chunk]
        for name in names if number % 2 == 0 else reversed(names):
            fn = contenders[name]
            switch = _MODES.get(name)
            if switch is not None:
                switch()
            begin = time.process_time()
            for item in part:
                fn(item)
            spent[name] += time.process_time() - begin
    native.disable()
    return spent


@dataclass(frozen=True)
class Spread:
    """Values of a figure over rounds: median and range."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def rate(self) -> str:
        return f"{self.median:,.0f} ({self.low:,.0f}-{self.high:,.0f})"

    def ratio(self) -> str:
        return f"{self.median:.2f}x ({self.low:.2f}-{self.high:.2f})"

    def __truediv__(self, other: Spread) -> Spread:
        """Round by round: ``self``'s value over ``other``'s."""
        return Spread(tuple(a / b for a, b in zip(self.values, other.values, strict=True)))

    def to_dict(self) -> dict[str, float | list[float]]:
        return {"median": self.median, "low": self.low, "high": self.high, "values": list(self.values)}


@dataclass(frozen=True)
class EcdsaWork:
    """The public-key work a call does through ``cryptography``: ECDSA checks (certificates, CRLs, documents, QE
    report, quote), and P-256 key objects made for them (from a point, or a certificate's key)."""

    checks: float
    keys: float

    def __truediv__(self, count: int) -> EcdsaWork:
        """Per item, for a call over ``count`` items."""
        return EcdsaWork(self.checks / count, self.keys / count)

    def floor(self, one_check: float, one_key: float) -> float:
        """The calls per second if everything but this work cost nothing, given checks and key objects per second."""
        seconds = self.checks / one_check + self.keys / one_key
        return 1 / seconds if seconds else float("inf")


def ecdsa_work(fn: Callable[[], object]) -> EcdsaWork:
    """The ECDSA checks and P-256 key objects ``fn`` makes through ``cryptography``."""
    profile = cProfile.Profile()
    profile.runcall(fn)
    calls = pstats.Stats(profile).stats  # type: ignore[attr-defined]  # {(file, line, name): (cc, ncalls, ...)}
    checks = keys = 0
    for (_, _, name), row in calls.items():
        if ("'verify'" in name and "ECPublicKey" in name) or "is_signature_valid" in name:
            checks += row[1]
        elif name == "from_encoded_point" or ("'public_key'" in name and "Certificate" in name):
            keys += row[1]
    return EcdsaWork(checks, keys)


def key_rate(rounds: int = 5, per_round: int = 2000) -> float:
    """P-256 key objects ``cryptography`` makes per CPU second from distinct uncompressed points (as from a quote's
    attestation key or a PCK certificate's key); the best of ``rounds``."""
    curve = ec.SECP256R1()
    points = [
        ec.generate_private_key(curve).public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        for _ in range(64)
    ]
    best = 0.0
    for _ in range(rounds):
        begin = time.process_time()
        for i in range(per_round):
            ec.EllipticCurvePublicKey.from_encoded_point(curve, points[i % 64])
        best = max(best, per_round / max(time.process_time() - begin, 1e-9))
    return best


def ecdsa_rate(pck_chain_pem: bytes, rounds: int = 5, per_round: int = 2000) -> float:
    """ECDSA P-256 verifications per CPU second through ``cryptography``: a PCK certificate's signature, with its
    issuer's key loaded once (the cheapest form a verifier can call); the best of ``rounds``."""
    pck, issuer = x509.load_pem_x509_certificates(pck_chain_pem)[:2]
    key = issuer.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    signature, tbs, algorithm = pck.signature, pck.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256())
    best = 0.0
    for _ in range(rounds):
        begin = time.process_time()
        for _ in range(per_round):
            key.verify(signature, tbs, algorithm)
        best = max(best, per_round / max(time.process_time() - begin, 1e-9))
    return best
