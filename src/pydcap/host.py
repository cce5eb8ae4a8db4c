"""The host API, after Conclave's: start an enclave with ``AttestationParameters.DCAP()``, get its instance info.

The host gets a quote from the platform (Gramine, a TDX guest's configfs-tsm, or, when no hardware is found, the
``fallback`` it was handed, announced as simulated), fetches its collateral through the quote provider that discovery
selects, and packages both as an ``EnclaveInstanceInfo`` to send to clients. A client calls ``verify(info,
constraint)`` with a Conclave constraint (``S:<mrsigner> PROD:1 SEC:STALE``) or any pydcap policy.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from pydcap.collateral import Collateral
from pydcap.errors import FormatError, PydcapError
from pydcap.intel.time import TimeLike
from pydcap.pki import CertificateChain, TrustRoot
from pydcap.platform import QuoteSource, detect
from pydcap.policy import AppraisalPolicy, EnclaveConstraint
from pydcap.provider import QuoteProvider, open_provider
from pydcap.quote import EnclaveReport, Quote
from pydcap.verify import VerificationResult, verify_quote

log = logging.getLogger("pydcap.host")

INFO_FORMAT = "pydcap-enclave-instance-info/1"


class HostError(PydcapError):
    """The enclave could not be started or attested; the message says which step failed and why."""


@dataclass(frozen=True)
class AttestationParameters:
    """How an enclave attests. Only DCAP exists; ``provider`` (a name, a library path or a provider object)
    overrides discovery of the quote provider."""

    scheme: str = "DCAP"
    provider: str | QuoteProvider | None = None

    @classmethod
    def DCAP(cls, provider: str | QuoteProvider | None = None) -> AttestationParameters:  # Conclave's name
        return cls("DCAP", provider)


@dataclass(frozen=True)
class EnclaveInstanceInfo:
    """What a host sends to clients: the quote, its collateral, and where they came from.

    Every identity field (measurement, signer, report data, debug) is read from the quote itself, so a
    deserialized instance info carries nothing a client must take on trust beyond the quote and collateral.
    """

    quote: bytes
    collateral: Collateral
    provider: str
    platform: str
    created_at: int = field(default_factory=lambda: int(time.time()))

    @cached_property
    def parsed(self) -> Quote:
        return Quote.parse(self.quote)

    @property
    def tee(self) -> str:
        return self.parsed.tee

    @property
    def measurement(self) -> bytes:
        """MRENCLAVE for an SGX enclave, MRTD for a TD."""
        body = self.parsed.body
        return body.mr_enclave if isinstance(body, EnclaveReport) else body.mr_td

    @property
    def signer(self) -> bytes | None:
        body = self.parsed.body
        return body.mr_signer if isinstance(body, EnclaveReport) else None

    @property
    def report_data(self) -> bytes:
        return self.parsed.report_data

    @property
    def simulated(self) -> bool:
        return self.platform == "simulated"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": INFO_FORMAT,
            "tee": self.tee,
            "measurement": self.measurement.hex(),
            "signer": self.signer.hex() if self.signer is not None else None,
            "report_data": self.report_data.hex(),
            "platform": self.platform,
            "provider": self.provider,
            "created_at": self.created_at,
            "quote": base64.b64encode(self.quote).decode(),
            "collateral": json.loads(self.collateral.to_json()),
        }

    def serialize(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    @classmethod
    def deserialize(cls, data: bytes | str) -> EnclaveInstanceInfo:
        """Read what ``serialize`` wrote; raise ``FormatError`` naming what is wrong."""
        try:
            obj = json.loads(data)
            if not isinstance(obj, dict) or obj.get("format") != INFO_FORMAT:
                raise FormatError(f"not an enclave instance info (expected format {INFO_FORMAT!r})")
            info = cls(
                quote=base64.b64decode(obj["quote"], validate=True),
                collateral=Collateral.from_json(json.dumps(obj["collateral"])),
                provider=str(obj["provider"]),
                platform=str(obj["platform"]),
                created_at=int(obj["created_at"]),
            )
        except FormatError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise FormatError(f"malformed enclave instance info: {exc}") from exc
        return info


def _provider_name(provider: QuoteProvider) -> str:
    return str(getattr(provider, "name", type(provider).__name__))


class EnclaveHost:
    """Starts an enclave (on hardware, or simulated) and attests it with DCAP.

    ``quote_source`` overrides platform detection (pass ``pydcap.sim.enclave.SimulatedQuoteSource`` to
    simulate a particular enclave); without one, ``start`` detects Gramine or a TDX guest, and otherwise asks
    ``fallback`` for a quote source (``pydcap.sim.enclave.simulated_fallback`` simulates an SGX enclave on a
    platform of the simulated Intel of ``$PYDCAP_SIM_SEED``, as ``pydcap sim serve`` does). Without a fallback,
    no hardware is a ``HostError``.
    """

    def __init__(
        self, quote_source: QuoteSource | None = None, *, fallback: Callable[[], QuoteSource] | None = None
    ) -> None:
        self._source = quote_source
        self._fallback = fallback
        self._info: EnclaveInstanceInfo | None = None
        self.platform_message = ""
        self._simulated: str | None = None  # what start() fell back to, for messages

    @property
    def enclave_instance_info(self) -> EnclaveInstanceInfo:
        if self._info is None:
            raise HostError("the enclave has not been started (call start first)")
        return self._info

    def _quote_source(self) -> tuple[QuoteSource, str]:
        if self._source is not None:
            return self._source, str(getattr(self._source, "name", "custom"))
        found = detect()
        if found.source is not None:
            self.platform_message = found.message
            log.info("%s", found.message)
            return found.source, found.kind
        if self._fallback is None:
            raise HostError(
                "no SGX or TDX quote interface was found (no /dev/attestation, no configfs-tsm) and no fallback was "
                "given: run on SGX or TDX hardware, or pass EnclaveHost(fallback=...) "
                "(pydcap.sim.enclave.simulated_fallback simulates a platform)"
            )
        try:
            source = self._fallback()
        except (ValueError, PydcapError) as exc:
            raise HostError(str(exc)) from exc
        self._simulated = str(getattr(source, "description", "simulated platform"))
        self.platform_message = found.message
        log.warning("%s", found.message)
        return source, "simulated"

    def start(self, attestation: AttestationParameters, *, report_data: bytes = b"") -> EnclaveInstanceInfo:
        """Get a quote binding ``report_data`` (up to 64 bytes, e.g. a key's hash) and its collateral.

        Raises ``HostError`` (one line: the step that failed and why), also when the quote's PCK certificate chain
        does not end in the root the collateral is verified against: no client could accept it. That is checked
        before collateral is asked for when the provider says its root, and again on the collateral."""
        if attestation.scheme != "DCAP":
            raise HostError(f"attestation scheme {attestation.scheme!r} is not supported (only DCAP)")
        source, kind = self._quote_source()
        try:
            quote = source.get_quote(report_data)
            quote_root = _chain_root(Quote.parse(quote).pck_chain_pem)
        except PydcapError as exc:
            raise HostError(f"the {kind} platform gave no quote: {exc}") from exc
        given = attestation.provider
        owned = not isinstance(given, QuoteProvider)
        try:
            provider = given if isinstance(given, QuoteProvider) else open_provider(given)
        except PydcapError as exc:
            raise HostError(f"no quote provider: {exc}") from exc
        name = _provider_name(provider)
        try:
            self._check_root(quote_root, provider.trust, name)
            collateral = provider.collateral_for_quote(quote)
            self._check_root(quote_root, _chain_root(collateral.pck_crl_issuer_chain), name)
        except HostError:
            raise
        except PydcapError as exc:
            raise HostError(f"the {name} quote provider gave no collateral: {exc}") from exc
        finally:
            if owned:
                provider.close()
        self._info = EnclaveInstanceInfo(quote, collateral, name, kind)
        return self._info

    def _check_root(self, quote_root: TrustRoot | None, collateral_root: TrustRoot | None, provider: str) -> None:
        """Refuse a quote certified under another root than the collateral's (unknown roots are not judged)."""
        if quote_root is None or collateral_root is None or quote_root.public_key == collateral_root.public_key:
            return
        if self._simulated is not None:
            raise HostError(
                f"without SGX or TDX hardware the {self._simulated} needs a simulated "
                f"Intel for its collateral, but the {provider} quote provider trusts {collateral_root.name}: run "
                "'pydcap sim serve &' and 'eval \"$(pydcap sim env)\"' first (a simulated Intel on port 8082, and "
                "the variables that point pydcap at it and trust its root)"
            )
        raise HostError(
            f"the quote's PCK certificate chain ends in {quote_root.name}, but the {provider} quote provider's "
            f"collateral is under {collateral_root.name}: no client would accept this quote; point the provider at "
            "the service that certified this platform (and, for a simulated Intel, PYDCAP_TRUSTED_ROOT at its root)"
        )


def _chain_root(pem: bytes | None) -> TrustRoot | None:
    """The root a PEM chain ends in (its self-issued certificate), or None when there is no chain or root."""
    if not pem:
        return None
    try:
        root = CertificateChain.parse(pem).root
        return None if root is None else TrustRoot.from_pem(root.x509.public_bytes(Encoding.PEM))
    except PydcapError:
        return None  # an unreadable chain is the verifier's to name


def verify(
    instance_info: EnclaveInstanceInfo | bytes | str,
    constraint: str | AppraisalPolicy,
    *,
    trusted_root: TrustRoot | bytes | str | None = None,
    at: TimeLike = None,
) -> VerificationResult:
    """A client's check of an enclave: verify its quote with its collateral, then apply ``constraint`` (a
    Conclave constraint string or any policy). ``accepted`` and ``reasons`` say whether and why not.
    ``trusted_root`` is Intel's unless given (a simulated platform needs its simulated root)."""
    info = (
        instance_info
        if isinstance(instance_info, EnclaveInstanceInfo)
        else EnclaveInstanceInfo.deserialize(instance_info)
    )
    policy = EnclaveConstraint.parse(constraint) if isinstance(constraint, str) else constraint
    return verify_quote(info.quote, info.collateral, at=at, trusted_root=trusted_root, policy=policy)
