"""A complete set of verification collateral, as raw bytes, with its three on-disk forms.

``Collateral.load`` reads (a) a directory in the layout of the shared test data, (b) the JSON dcap-qvl's
``QuoteCollateralV3.to_json()`` writes, and (c) pydcap's own single-file JSON, which round-trips exactly.
Each may carry the PCK certificate chain of a quote that has an encrypted PPID instead (``pck_cert.pem``,
dcap-qvl's ``pck_certificate_chain``). Nothing here is verified: the verifier does that, with a content-hash cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydcap.collateral.jsonread import NOT_READ, read
from pydcap.collateral.signed import SignedDocument
from pydcap.errors import CertificateFormatError, CollateralFormatError
from pydcap.lazy import computed_once
from pydcap.pki.crl import crl_der

FORMAT_TAG = "pydcap-collateral/1"

# Directory layout: file name for each part.
LAYOUT = {
    "pck_crl": "pck_crl.der",
    "pck_crl_issuer_chain": "pck_crl_issuer_chain.pem",
    "root_ca_crl": "root_ca_crl.der",
    "tcb_info": "tcb_info.json",
    "tcb_info_issuer_chain": "tcb_info_issuer_chain.pem",
    "qe_identity": "qe_identity.json",
    "qe_identity_issuer_chain": "qe_identity_issuer_chain.pem",
}
PCK_CHAIN_FILE = "pck_cert.pem"  # optional: the PCK certificate chain of a quote that does not embed it


@dataclass(frozen=True)
class Collateral:
    """Everything a verifier needs beside the quote. CRLs are DER; chains are PEM; documents are signed.
    ``pck_chain`` (PCK certificate, its CA, the root) serves a quote whose certification data is an encrypted
    PPID (type 2 or 3); a quote that embeds its chain (type 5) is verified with its own."""

    pck_crl: bytes
    pck_crl_issuer_chain: bytes
    root_ca_crl: bytes
    tcb_info: SignedDocument
    tcb_info_issuer_chain: bytes
    qe_identity: SignedDocument
    qe_identity_issuer_chain: bytes
    pck_chain: bytes | None = None

    @classmethod
    def create(
        cls,
        *,
        pck_crl: bytes | str,
        pck_crl_issuer_chain: bytes | str,
        root_ca_crl: bytes | str,
        tcb_info: bytes | str | SignedDocument,
        tcb_info_issuer_chain: bytes | str,
        qe_identity: bytes | str | SignedDocument,
        qe_identity_issuer_chain: bytes | str,
        pck_chain: bytes | str | None = None,
    ) -> Collateral:
        """Build from parts in any of Intel's encodings (CRLs DER/PEM/hex, documents as served)."""
        return cls(
            pck_crl=_crl("pck_crl", pck_crl),
            pck_crl_issuer_chain=_pem(pck_crl_issuer_chain),
            root_ca_crl=_crl("root_ca_crl", root_ca_crl),
            tcb_info=tcb_info
            if isinstance(tcb_info, SignedDocument)
            else SignedDocument.parse(tcb_info, "tcbInfo", "tcb_info"),
            tcb_info_issuer_chain=_pem(tcb_info_issuer_chain),
            qe_identity=qe_identity
            if isinstance(qe_identity, SignedDocument)
            else SignedDocument.parse(qe_identity, "enclaveIdentity", "qe_identity"),
            qe_identity_issuer_chain=_pem(qe_identity_issuer_chain),
            pck_chain=None if pck_chain is None else _pem(pck_chain),
        )

    # ---- loading -------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> Collateral:
        """Load from a directory (or a bundle directory holding ``collateral/``) or a JSON file."""
        p = Path(path)
        if p.is_dir():
            return cls.from_directory(p / "collateral" if (p / "collateral").is_dir() else p)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise CollateralFormatError("collateral", f"cannot read {p}: {exc.strerror}") from exc
        return cls.from_json(data)

    @classmethod
    def from_directory(cls, directory: Path) -> Collateral:
        parts: dict[str, bytes] = {}
        missing = []
        for name, filename in LAYOUT.items():
            f = directory / filename
            try:
                parts[name] = f.read_bytes()
            except FileNotFoundError:
                missing.append(filename)
            except OSError as exc:
                raise CollateralFormatError("collateral", f"cannot read {f}: {exc.strerror}") from exc
        if missing:
            raise CollateralFormatError("collateral", f"{directory} lacks {', '.join(missing)}")
        chain = directory / PCK_CHAIN_FILE
        try:
            pck_chain = chain.read_bytes()
        except FileNotFoundError:
            pck_chain = None
        except OSError as exc:
            raise CollateralFormatError("collateral", f"cannot read {chain}: {exc.strerror}") from exc
        return cls.create(**parts, pck_chain=pck_chain)

    @classmethod
    def from_json(cls, data: bytes | str) -> Collateral:
        try:
            obj = read(data)
            if obj is NOT_READ:
                obj = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise CollateralFormatError("collateral", f"not JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise CollateralFormatError("collateral", "collateral JSON must be an object")
        if obj.get("format") == FORMAT_TAG:
            return cls._from_own_json(obj)
        if "tcb_info_signature" in obj:
            return cls._from_dcap_qvl_json(obj)
        raise CollateralFormatError(
            "collateral", "unknown JSON: neither pydcap's format nor dcap-qvl's QuoteCollateralV3"
        )

    @classmethod
    def _from_dcap_qvl_json(cls, obj: dict[str, Any]) -> Collateral:
        s = _strings(obj, "dcap-qvl collateral")
        return cls.create(
            pck_crl=s("pck_crl"),
            pck_crl_issuer_chain=s("pck_crl_issuer_chain"),
            root_ca_crl=s("root_ca_crl"),
            tcb_info=SignedDocument.from_parts(s("tcb_info"), s("tcb_info_signature"), "tcbInfo", "tcb_info"),
            tcb_info_issuer_chain=s("tcb_info_issuer_chain"),
            qe_identity=SignedDocument.from_parts(
                s("qe_identity"), s("qe_identity_signature"), "enclaveIdentity", "qe_identity"
            ),
            qe_identity_issuer_chain=s("qe_identity_issuer_chain"),
            pck_chain=_optional_string(obj, "pck_certificate_chain", "dcap-qvl collateral"),
        )

    @classmethod
    def _from_own_json(cls, obj: dict[str, Any]) -> Collateral:
        s = _strings(obj, "pydcap collateral")
        try:
            pck_crl = bytes.fromhex(s("pck_crl"))
            root_ca_crl = bytes.fromhex(s("root_ca_crl"))
        except ValueError as exc:
            raise CollateralFormatError("collateral", "CRLs must be hex-encoded DER") from exc
        return cls(
            pck_crl=pck_crl,
            pck_crl_issuer_chain=s("pck_crl_issuer_chain").encode(),
            root_ca_crl=root_ca_crl,
            tcb_info=SignedDocument.parse(s("tcb_info"), "tcbInfo", "tcb_info"),
            tcb_info_issuer_chain=s("tcb_info_issuer_chain").encode(),
            qe_identity=SignedDocument.parse(s("qe_identity"), "enclaveIdentity", "qe_identity"),
            qe_identity_issuer_chain=s("qe_identity_issuer_chain").encode(),
            pck_chain=_encoded(_optional_string(obj, "pck_chain", "pydcap collateral")),
        )

    # ---- writing -------------------------------------------------------------------------------

    def to_json(self) -> str:
        """pydcap's single-file form: exact bytes, so ``from_json(to_json())`` gives an equal bundle."""
        obj = {
            "format": FORMAT_TAG,
            "pck_crl": self.pck_crl.hex(),
            "pck_crl_issuer_chain": self.pck_crl_issuer_chain.decode(),
            "root_ca_crl": self.root_ca_crl.hex(),
            "tcb_info": self.tcb_info.to_bytes().decode(),
            "tcb_info_issuer_chain": self.tcb_info_issuer_chain.decode(),
            "qe_identity": self.qe_identity.to_bytes().decode(),
            "qe_identity_issuer_chain": self.qe_identity_issuer_chain.decode(),
        }
        if self.pck_chain is not None:
            obj["pck_chain"] = self.pck_chain.decode()
        return json.dumps(obj, indent=1)

    def to_dcap_qvl_json(self) -> str:
        """The JSON dcap-qvl reads (``QuoteCollateralV3``), for interoperability and benchmarks."""
        obj = {
            "pck_crl_issuer_chain": self.pck_crl_issuer_chain.decode(),
            "root_ca_crl": self.root_ca_crl.hex(),
            "pck_crl": self.pck_crl.hex(),
            "tcb_info_issuer_chain": self.tcb_info_issuer_chain.decode(),
            "tcb_info": self.tcb_info.body.decode(),
            "tcb_info_signature": self.tcb_info.signature.hex(),
            "qe_identity_issuer_chain": self.qe_identity_issuer_chain.decode(),
            "qe_identity": self.qe_identity.body.decode(),
            "qe_identity_signature": self.qe_identity.signature.hex(),
        }
        if self.pck_chain is not None:
            obj["pck_certificate_chain"] = self.pck_chain.decode()
        return json.dumps(obj)

    def write_directory(self, directory: str | Path) -> None:
        """Write the shared test-data layout (one file per part, and ``pck_cert.pem`` when there is a chain)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        for name, filename in LAYOUT.items():
            value = getattr(self, name)
            (d / filename).write_bytes(value.to_bytes() if isinstance(value, SignedDocument) else value)
        if self.pck_chain is not None:
            (d / PCK_CHAIN_FILE).write_bytes(self.pck_chain)

    @computed_once
    def digest(self) -> bytes:
        """SHA-256 over every part, each after its length (a missing PCK chain adds nothing): the content-hash key of
        this bundle."""
        h = hashlib.sha256()
        tcb_info, qe_identity = self.tcb_info, self.qe_identity
        for raw in (
            self.pck_crl,
            self.pck_crl_issuer_chain,
            self.root_ca_crl,
            tcb_info.body_key.encode(),
            tcb_info.body,
            tcb_info.signature,
            self.tcb_info_issuer_chain,
            qe_identity.body_key.encode(),
            qe_identity.body,
            qe_identity.signature,
            self.qe_identity_issuer_chain,
            self.pck_chain,
        ):
            if raw is not None:
                h.update(len(raw).to_bytes(4, "big"))
                h.update(raw)
        return h.digest()


def _crl(part: str, value: bytes | str) -> bytes:
    try:
        return crl_der(value)
    except CertificateFormatError as exc:
        raise CollateralFormatError(part, str(exc)) from exc


def _pem(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def _optional_string(obj: dict[str, Any], key: str, what: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise CollateralFormatError("collateral", f"{what}: {key!r} is not a string")
    return None if value is None else _utf8_text(value, key, what)


def _utf8_text(value: str, key: str, what: str) -> str:
    """``value``, refused when it has no UTF-8 form (a lone surrogate, which JSON's ``\\ud800`` escape gives)."""
    if value.isascii():  # known without a look at the characters
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CollateralFormatError("collateral", f"{what}: {key!r} is not UTF-8 text ({exc.reason})") from exc
    return value


def _encoded(value: str | None) -> bytes | None:
    return None if value is None else value.encode()


def _strings(obj: dict[str, Any], what: str) -> Callable[[str], str]:
    """A getter of ``obj``'s string members that names a missing or mistyped one."""

    def get(key: str) -> str:
        value = obj.get(key)
        if not isinstance(value, str):
            raise CollateralFormatError("collateral", f"{what}: {key!r} is missing or not a string")
        return _utf8_text(value, key, what)

    return get
