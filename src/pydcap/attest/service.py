"""``AttestService``: the attestation service without HTTP. Evidence in (MAA's request bodies), Intel's appraisal
with collateral from ``pydcap.cache`` (fetched once for every replica sharing the store, verified before it is
stored), the tenant's policy, and a signed token out: MAA's claims, or an EAR.

Tenants: the default instance ("") and each configured name, each with its own keys and policies, in the tables
of ``pydcap.attest.tables`` beside the collateral store.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from sqlalchemy import delete, select

from pydcap.attest import tables as t
from pydcap.attest.claims import attestation_claims, collateral_digests
from pydcap.attest.config import AttestConfig
from pydcap.attest.ear import ear_claims
from pydcap.attest.errors import (
    AttestError,
    InvalidOperation,
    InvalidParameter,
    NotFound,
    PolicyEvaluationError,
    ServiceUnavailable,
)
from pydcap.attest.evidence import AttestationType, AttestRequest, decode_base64, read_request
from pydcap.attest.keys import KeyRing, SigningKey, b64url
from pydcap.attest.policy import DEFAULT_POLICY_TEXT, AttestationPolicy
from pydcap.cache import AsyncCollateralService, CollateralCache, CollateralStore, FetchedCollateral, StoreError
from pydcap.cache.store import read_transaction, write_transaction
from pydcap.errors import CollateralError
from pydcap.intel import Clock
from pydcap.lazy import remember
from pydcap.pki import TrustRoot
from pydcap.policy import UnsafeAcceptAnyStatus
from pydcap.quote.structs import EnclaveReport, TdReport10
from pydcap.serving.retry import retry_after
from pydcap.sources import AzureClient, CollateralSource, HttpSettings, PccsClient, PcsClient, RetryPolicy
from pydcap.sources.errors import CollateralNotFoundError
from pydcap.sources.models import CollateralRequest, PlatformRequestError
from pydcap.verify import VerificationResult, Verifier

log = logging.getLogger("pydcap.attest")
__all__ = ["Appraisal", "AttestService", "Clock", "Tenant", "make_source", "policy_text", "unsecured_jws"]

_POLICY_RELOAD = 1.0  # seconds a replica trusts its copy of a policy before reading it again
# A platform family's collateral (one FMSPC and CA) is taken from the cache again after a second at most (sooner
# when it expires), not for every attestation: the cache's lookups and re-checks cost more than the verification.
_COLLATERAL_REUSE = 1.0
_RECENT_COLLATERAL = 256


def make_source(config: AttestConfig) -> CollateralSource:
    """The upstream the configuration names, with retries that fit ``upstream_timeout``."""
    budget = config.upstream_timeout
    settings = HttpSettings(
        connect_timeout=min(budget, 3.0), read_timeout=budget,
        retry=RetryPolicy(attempts=3, backoff=0.2, max_delay=budget / 3, deadline=budget),
        verify_tls=config.upstream_ca or True,
    )  # fmt: skip
    if config.source == "pccs":
        return PccsClient(config.upstream, settings=settings)
    if config.source == "azure":
        return AzureClient(config.upstream, settings=settings)
    return PcsClient(config.upstream, api_key=config.api_key or None, settings=settings)


def unsecured_jws(body: dict[str, Any]) -> str:
    """An unsecured JWS (``alg: none``), as MAA's policy documents and draft-policy tokens are."""
    return jwt.encode(body, "", algorithm="none")


@dataclass
class Tenant:
    name: str
    issuer: str
    keys: KeyRing
    policies: dict[str, tuple[float, AttestationPolicy]] = field(default_factory=dict)  # type -> (read at, policy)


@dataclass(frozen=True)
class _Collateral:
    """A platform family's collateral as fetched, and the SHA-256 of its parts that tokens carry."""

    fetched: FetchedCollateral
    digests: dict[str, str]


@dataclass(frozen=True)
class Appraisal:
    """One attestation: the request, Intel's verdict, the token's claims (when it verified) and the policy's
    failures."""

    request: AttestRequest
    result: VerificationResult
    policy: AttestationPolicy
    claims: dict[str, Any]
    failures: list[str]


class AttestService:
    """Attestations for the default tenant and ``config.tenants``, on ``store`` (whose collateral entries it
    shares with a PCCS on the same store) and ``source``. ``issuer`` is the default tenant's issuer URL."""

    def __init__(
        self,
        config: AttestConfig,
        store: CollateralStore,
        source: CollateralSource,
        *,
        issuer: str,
        trust: TrustRoot | None = None,
        clock: Clock | None = None,
        owns_store: bool = False,
    ) -> None:
        self.config = config
        self.store = store
        self.owns_store = owns_store
        self.trust = trust if trust is not None else TrustRoot.intel()
        self.clock: Clock = clock if clock is not None else time.time
        self.collateral = AsyncCollateralService(source, CollateralCache(store, trust=self.trust, clock=self.clock))
        self.verifier = Verifier(trusted_root=self.trust, policy=UnsafeAcceptAnyStatus())
        self._recent: dict[CollateralRequest, tuple[float, _Collateral]] = {}
        t.ensure_tables(store.engine)
        self.tenants: dict[str, Tenant] = {}
        for name in ("", *config.tenants):
            keys = KeyRing(
                store.engine, name, algorithm=config.algorithm, subject="",
                token_lifetime=config.token_lifetime, clock=self.clock,
            )  # fmt: skip
            self.tenants[name] = Tenant(name, "", keys)
        self.set_issuer(issuer)

    def set_issuer(self, issuer: str) -> None:
        """The default tenant's issuer URL (the others': ``<issuer>/tenants/<name>``), before serving starts."""
        self.issuer = issuer.rstrip("/")
        for name, tenant in self.tenants.items():
            tenant.issuer = f"{self.issuer}/tenants/{name}" if name else self.issuer
            tenant.keys.subject = tenant.issuer

    @classmethod
    def from_config(cls, config: AttestConfig, *, issuer: str, clock: Clock | None = None) -> AttestService:
        trust = TrustRoot.from_pem(Path(config.root_ca).read_bytes()) if config.root_ca else None
        store = CollateralStore.open(config.database_target)
        return cls(config, store, make_source(config), issuer=issuer, trust=trust, clock=clock, owns_store=True)

    def tenant(self, name: str) -> Tenant:
        found = self.tenants.get(name)
        if found is None:
            raise NotFound(f"this service has no tenant {name!r}")
        return found

    # ---- attestation --------------------------------------------------------------------------------

    async def appraise(self, tenant: Tenant, kind: AttestationType, body: bytes) -> Appraisal:
        """Read, verify and judge the evidence; raises ``AttestError`` for what is not a verdict."""
        request = read_request(kind, body)
        drafted = request.draft_policy
        policy = AttestationPolicy.parse(drafted) if drafted is not None else self._fresh_policy(tenant, kind)
        if policy is None:
            policy = await asyncio.to_thread(self.policy, tenant, kind)
        held = await self._collateral(request)
        result = self.verifier.appraise(request.quote, held.fetched.collateral, at=int(self.clock()))
        _check_bindings(request)
        if result.failure is not None:
            return Appraisal(request, result, policy, {}, [])
        claims = attestation_claims(request, result, held.digests, policy.hash)
        failures = policy.failures(result, claims)
        return Appraisal(request, result, policy, {**claims, **policy.issued(claims)}, failures)

    def _wanted(self, request: AttestRequest) -> CollateralRequest:
        """The collateral the quote needs, from its PCK certificate as the verifier reads it for the appraisal
        that follows (read once); a chain the verifier does not trust is read here for its FMSPC all the same,
        and the appraisal then says why it is not trusted."""
        quote = request.quote
        platform = self.verifier.pck_platform(quote)
        if platform is None:
            return CollateralRequest.from_quote(quote)
        return CollateralRequest.for_platform(quote, *platform)

    async def _collateral(self, request: AttestRequest) -> _Collateral:
        try:
            wanted = self._wanted(request)
            now = time.monotonic()
            held = self._recent.get(wanted)
            if held is not None and held[0] > now:
                return held[1]
            fetched = await self.collateral.collateral_for(wanted.tee, wanted.fmspc, wanted.ca)
            collateral = _Collateral(fetched, collateral_digests(fetched.entries))
            if not fetched.stale_parts:
                until = min(
                    now + _COLLATERAL_REUSE, now + min(e.valid_until for e in fetched.entries.values()) - self.clock()
                )
                remember(self._recent, wanted, (until, collateral), _RECENT_COLLATERAL)
            return collateral
        except CollateralNotFoundError as exc:
            raise InvalidParameter(f"there is no collateral for this quote's platform: {exc}") from exc
        except CollateralError as exc:
            raise ServiceUnavailable(
                f"the collateral for this quote cannot be had now: {exc}", retry_after=retry_after(exc)
            ) from exc
        except StoreError as exc:
            log.warning("the store failed: %s", exc)
            raise ServiceUnavailable("the service's store is unavailable; retry in a while") from exc
        except (PlatformRequestError, ValueError) as exc:  # no FMSPC or CA the sources understand in the PCK
            raise InvalidParameter(f"quote: {exc}") from exc

    async def attest(self, tenant_name: str, kind: AttestationType, body: bytes, *, ear: bool = False) -> str:
        """The token for the evidence in ``body``: MAA's (signed; unsecured with a draft policy) or an EAR."""
        tenant = self.tenant(tenant_name)
        a = await self.appraise(tenant, kind, body)
        draft = a.request.draft_policy is not None  # MAA: a draft policy's token is unsecured, never signed
        if ear:
            claims = ear_claims(
                a.result, a.failures, submodule=f"intel-{kind.tee.lower()}", policy_id=a.policy.hash,
                nonce=a.request.nonce, developer=tenant.issuer,
            )  # fmt: skip
            return unsecured_jws(self._jwt_claims(tenant, claims)) if draft else self.sign(tenant, claims)
        if a.result.failure is not None:
            raise InvalidParameter(
                f"the quote did not verify: {a.result.failure.value} ({a.result.detail}); Intel's verification "
                f"returns {a.result.quote3_error.value}, qv_result {a.result.qv_result.value}"
            )
        if a.failures:
            raise PolicyEvaluationError(
                f"the policy refused the evidence ({len(a.failures)} rules failed): " + "; ".join(a.failures)
            )
        return unsecured_jws(self._jwt_claims(tenant, a.claims)) if draft else self.sign(tenant, a.claims)

    # ---- tokens -------------------------------------------------------------------------------------

    def _jwt_claims(self, tenant: Tenant, claims: dict[str, Any]) -> dict[str, Any]:
        now = int(self.clock())
        return {
            **claims, "iss": tenant.issuer, "iat": now, "nbf": now, "exp": now + self.config.token_lifetime,
            "jti": secrets.token_hex(32),
        }  # fmt: skip

    def sign(self, tenant: Tenant, claims: dict[str, Any]) -> str:
        key = tenant.keys.current()
        headers = {"kid": key.kid, "jku": f"{tenant.issuer}/certs", "typ": "JWT"}
        return jwt.encode(self._jwt_claims(tenant, claims), key.private_key, algorithm=key.algorithm, headers=headers)

    def signing_keys(self, tenant_name: str) -> list[SigningKey]:
        return self.tenant(tenant_name).keys.published()

    def rotate(self, tenant_name: str) -> SigningKey:
        return self.tenant(tenant_name).keys.rotate()

    # ---- policies -----------------------------------------------------------------------------------

    def _stored(self, tenant: Tenant, kind: AttestationType) -> str | None:
        p = t.policies
        with read_transaction(self.store.engine) as conn:
            return conn.execute(
                select(p.c.document).where(p.c.tenant == tenant.name, p.c.attestation_type == kind.value)
            ).scalar()

    @staticmethod
    def _fresh_policy(tenant: Tenant, kind: AttestationType) -> AttestationPolicy | None:
        cached = tenant.policies.get(kind.value)
        return cached[1] if cached is not None and time.monotonic() - cached[0] < _POLICY_RELOAD else None

    def policy(self, tenant: Tenant, kind: AttestationType) -> AttestationPolicy:
        """The tenant's policy for ``kind`` (the default one when none was set); re-read each second."""
        fresh = self._fresh_policy(tenant, kind)
        if fresh is not None:
            return fresh
        document = self._stored(tenant, kind)
        text = policy_text(document) if document is not None else DEFAULT_POLICY_TEXT
        policy = AttestationPolicy.parse(text)
        tenant.policies[kind.value] = (time.monotonic(), policy)
        return policy

    def policy_document(self, tenant_name: str, kind: AttestationType) -> str:
        """The policy as MAA returns it: the JWS the administrator set, or one holding the default text."""
        document = self._stored(self.tenant(tenant_name), kind)
        return (
            document
            if document is not None
            else unsecured_jws({"AttestationPolicy": _b64url_text(DEFAULT_POLICY_TEXT)})
        )

    def set_policy(self, tenant_name: str, kind: AttestationType, document: str) -> dict[str, Any]:
        """Store the policy JWS (after checking that its policy parses); MAA's PolicyResult claims."""
        tenant = self.tenant(tenant_name)
        AttestationPolicy.parse(policy_text(document))
        p = t.policies
        with write_transaction(self.store.engine) as conn:
            conn.execute(delete(p).where(p.c.tenant == tenant.name, p.c.attestation_type == kind.value))
            conn.execute(
                p.insert().values(
                    tenant=tenant.name, attestation_type=kind.value, document=document, updated_at=self.clock()
                )
            )
        tenant.policies.pop(kind.value, None)
        return {
            "x-ms-policy-result": "Updated",
            "x-ms-policy-token-hash": b64url(hashlib.sha256(document.encode()).digest()),
        }

    def reset_policy(self, tenant_name: str, kind: AttestationType, document: str) -> dict[str, Any]:
        tenant = self.tenant(tenant_name)
        _jws_body(document)  # MAA takes a JWS with an empty body; anything else is refused
        p = t.policies
        with write_transaction(self.store.engine) as conn:
            conn.execute(delete(p).where(p.c.tenant == tenant.name, p.c.attestation_type == kind.value))
        tenant.policies.pop(kind.value, None)
        return {
            "x-ms-policy-result": "Removed",
            "x-ms-policy-token-hash": b64url(hashlib.sha256(document.encode()).digest()),
        }

    async def aclose(self) -> None:
        await self.collateral.aclose()
        if self.owns_store:
            await asyncio.to_thread(self.store.close)


def _check_bindings(request: AttestRequest) -> None:
    """runtimeData must be what the quote's report data commits to (its SHA-256 in the first 32 bytes), and
    initTimeData what its configuration ID (SGX) or MRCONFIGID (TDX) commits to; MAA refuses the request else."""
    body = request.quote.body
    if request.runtime is not None:
        digest = hashlib.sha256(request.runtime.data).digest()
        if not hmac.compare_digest(digest, body.report_data[:32]):
            raise InvalidParameter(
                "runtimeData does not match the quote: the first 32 bytes of its report data are not the SHA-256 "
                "of runtimeData.data"
            )
    if request.inittime is not None:
        config = body.config_id if isinstance(body, EnclaveReport) else body.mr_config_id
        assert isinstance(body, EnclaveReport | TdReport10)
        digest = hashlib.sha256(request.inittime.data).digest()
        if not hmac.compare_digest(digest, config[:32]):
            field_name = "CONFIGID" if isinstance(body, EnclaveReport) else "MRCONFIGID"
            raise InvalidParameter(
                f"initTimeData does not match the quote: the first 32 bytes of its {field_name} "
                "are not the SHA-256 of initTimeData.data"
            )


def _b64url_text(text: str) -> str:
    return b64url(text.encode())


def _jws_body(document: str) -> dict[str, Any]:
    """The body of a policy JWS; only unsecured ones (``alg: none``) are taken: this service authorizes policy
    changes with its administrator token, not with policy signing certificates (MAA's Isolated mode)."""
    try:
        header = jwt.get_unverified_header(document)
    except jwt.InvalidTokenError as exc:
        raise InvalidOperation(f"the policy is not a JSON Web Signature: {exc}") from None
    if header.get("alg") != "none":
        raise InvalidOperation(
            f"the policy is signed ({header.get('alg')}); this service takes unsigned policy documents and "
            "authorizes changes with its administrator token (MAA's Isolated mode is not supported)"
        )
    try:
        body = jwt.decode(document, options={"verify_signature": False})
    except jwt.DecodeError:
        body = {}
    except jwt.InvalidTokenError as exc:
        raise InvalidOperation(f"the policy JWS cannot be read: {exc}") from None
    return body


def policy_text(document: str) -> str:
    """The policy text inside a StoredAttestationPolicy JWS (``{"AttestationPolicy": base64url(text)}``)."""
    body = _jws_body(document)
    encoded = body.get("AttestationPolicy")
    if not isinstance(encoded, str):
        raise InvalidOperation("the policy JWS has no AttestationPolicy (the base64url policy text)")
    try:
        return decode_base64(encoded, "AttestationPolicy").decode()
    except UnicodeDecodeError:
        raise InvalidOperation("AttestationPolicy is not UTF-8 text") from None
    except AttestError as exc:
        raise InvalidOperation(exc.message) from None
