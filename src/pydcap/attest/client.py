"""The relying party's side: check an attestation token from a pydcap attestation service (or MAA itself) and get
its claims. The signing key comes from the issuer's own JWKS (found through its OpenID configuration, which must
name the same issuer), matched by ``kid``; ``iss``, ``exp``, ``nbf`` and ``iat`` are checked, and the nonce when
one is expected. ``TokenVerifier`` keeps the JWKS and fetches it again for a key it does not know (rotation).
"""

from __future__ import annotations

import hmac
import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt

from pydcap.errors import PydcapError
from pydcap.sources.http import read_limited

ALGORITHMS = ("RS256", "ES256")
# The OpenID configuration and the JWKS are read up to this size: an issuer's are a few kilobytes a key.
MAX_DOCUMENT_BYTES = 1024 * 1024


class TokenError(PydcapError):
    """The token is not acceptable (malformed, badly signed, expired, from another issuer, wrong nonce)."""


class IssuerError(PydcapError):
    """The issuer's keys could not be had (its answers are not an issuer's, or the CA certificate is unusable)."""


class IssuerUnreachableError(IssuerError):
    """The issuer did not answer (connection refused, TLS failure, timeout, an error status)."""


class TokenVerifier:
    """Verifies tokens of one issuer. ``ca_cert``: a PEM file trusted for the issuer's HTTPS (its self-signed
    certificate, as ``pydcap attest cert`` prints it); ``leeway``: seconds of clock skew tolerated."""

    def __init__(
        self,
        issuer: str,
        *,
        ca_cert: str | None = None,
        leeway: float = 60.0,
        clock: Callable[[], float] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.leeway = leeway
        self.clock = clock if clock is not None else time.time
        try:
            verify = ssl.create_default_context(cafile=ca_cert) if ca_cert else True
        except (OSError, ssl.SSLError) as exc:
            raise IssuerError(f"cannot use the CA certificate {ca_cert}: {exc}") from None
        self._http = httpx.Client(verify=verify, timeout=timeout)
        self._keys: dict[str, jwt.PyJWK] = {}

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TokenVerifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get_json(self, url: str) -> Any:
        try:
            with self._http.stream("GET", url) as streamed:
                response = read_limited(streamed, MAX_DOCUMENT_BYTES)
        except httpx.HTTPError as exc:
            raise IssuerUnreachableError(f"cannot reach {url}: {exc}") from exc
        if response is None:
            raise IssuerError(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes, no issuer's document")
        if response.status_code != 200:
            raise IssuerUnreachableError(f"{url} answered {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise IssuerError(f"{url} did not answer JSON") from None

    def refresh(self) -> None:
        """Fetch the issuer's OpenID configuration and JWKS again."""
        metadata = self._get_json(f"{self.issuer}/.well-known/openid-configuration")
        if not isinstance(metadata, dict) or str(metadata.get("issuer", "")).rstrip("/") != self.issuer:
            raise IssuerError(f"the OpenID configuration of {self.issuer} names another issuer")
        jwks_uri = metadata.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(self.issuer + "/"):
            raise IssuerError(f"the JWKS of {self.issuer} is not under the issuer's URL ({jwks_uri!r})")
        document = self._get_json(jwks_uri)
        keys: dict[str, jwt.PyJWK] = {}
        for item in document.get("keys", []) if isinstance(document, dict) else []:
            try:
                key = jwt.PyJWK(item)
            except (jwt.PyJWKError, jwt.InvalidKeyError):
                continue  # a key of a kind this client cannot use
            if key.key_id:
                keys[key.key_id] = key
        self._keys = keys

    def _key(self, kid: str) -> jwt.PyJWK:
        if kid not in self._keys:
            self.refresh()
        try:
            return self._keys[kid]
        except KeyError:
            raise TokenError(f"the token's key {kid!r} is not among {self.issuer}'s signing keys") from None

    def verify(self, token: str, *, nonce: str | None = None) -> dict[str, Any]:
        """The claims of ``token`` once its signature, issuer, times (and ``nonce``, if given) check out."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"not a JSON Web Token: {exc}") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ALGORITHMS:
            raise TokenError(f"the token is signed with {algorithm!r}; only {', '.join(ALGORITHMS)} is accepted")
        if not isinstance(kid, str):
            raise TokenError("the token names no signing key (kid)")
        key = self._key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[algorithm], issuer=self.issuer, leeway=self.leeway,
                options={"require": ["exp", "iat", "iss"], "verify_aud": False},
            )  # fmt: skip
        except jwt.InvalidTokenError as exc:
            raise TokenError(str(exc)) from None
        now = self.clock()
        if claims["exp"] + self.leeway < now:
            raise TokenError("Signature has expired")
        if nonce is not None:
            got = claims.get("nonce", claims.get("eat_nonce"))
            if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
                raise TokenError("the token's nonce is not the one expected")
        return claims


def verify_token(token: str, issuer: str, *, ca_cert: str | None = None, nonce: str | None = None) -> dict[str, Any]:
    """Verify one token against ``issuer``'s keys; its claims, or ``TokenError`` / ``IssuerError``."""
    with TokenVerifier(issuer, ca_cert=ca_cert) as verifier:
        return verifier.verify(token, nonce=nonce)
