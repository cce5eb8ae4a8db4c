"""Seed inputs of each fuzz target, taken from the real bundles of ``../shared/testdata/real`` (never copied
into the project): quotes, their certificates, CRLs, TCB infos, QE identities, collateral files in pydcap's
and dcap-qvl's JSON, a PCCS ``platformcollateral`` file made of a bundle, and the structured inputs of
``verify`` and ``admission`` (bundle index, part index, the part)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote as url_quote

from fuzz.targets import NAMES, PARTS, TESTDATA, bundles
from pydcap.collateral import Collateral
from pydcap.pki import Certificate, PckCertificate
from pydcap.pki.certs import split_pem_chain
from pydcap.quote import Quote


def _certificates() -> Iterator[bytes]:
    for bundle in bundles():
        chain = Quote.parse(bundle.parts["quote"]).pck_chain_pem or b""
        for part in (chain, bundle.parts["tcb_info_issuer_chain"], bundle.parts["pck_crl_issuer_chain"]):
            yield from split_pem_chain(part)


def _collateral_files() -> Iterator[bytes]:
    for bundle in bundles():
        loaded = Collateral.create(**{p: v for p, v in bundle.parts.items() if p != "quote"})
        yield loaded.to_json().encode()
        yield loaded.to_dcap_qvl_json().encode()
    for path in sorted((TESTDATA / "real").glob("*/collateral-dcap-qvl.json")):
        yield path.read_bytes()


def _pccs_file(index: int) -> bytes:
    """Intel's ``platformcollateral`` JSON (API v4) holding one real bundle and its quote's PCK certificate."""
    bundle = bundles()[index]
    parts, request = bundle.parts, bundle.request
    chain = split_pem_chain(Quote.parse(parts["quote"]).pck_chain_pem or b"")
    leaf = PckCertificate.from_certificate(Certificate.from_pem(chain[0]))
    tcbm = (leaf.sgx.tcb.cpu_svn + leaf.sgx.tcb.pce_svn.to_bytes(2, "little")).hex().upper()
    tcb_field = "tdx_tcbinfo" if request.tee.value == "tdx" else "sgx_tcbinfo"
    identity_field = "tdqeidentity" if request.tee.value == "tdx" else "qeidentity"
    crl_field = "processorCrl" if request.ca.value == "processor" else "platformCrl"
    document = {
        "platforms": [],
        "collaterals": {
            "version": 4,
            "pck_certs": [
                {
                    "qe_id": "00" * 16,
                    "pce_id": leaf.pce_id.hex().upper(),
                    "enc_ppid": "",
                    "certs": [{"tcb": {}, "tcbm": tcbm, "cert": url_quote(chain[0] + b"\n")}],
                }
            ],
            "tcbinfos": [{"fmspc": request.fmspc.hex().upper(), tcb_field: json.loads(parts["tcb_info"])}],
            identity_field: json.loads(parts["qe_identity"]),
            "certificates": {
                "SGX-PCK-Certificate-Issuer-Chain": {
                    request.ca.value.upper(): url_quote(b"\n".join(chain[1:]) + b"\n")
                },
                "TCB-Info-Issuer-Chain": url_quote(parts["tcb_info_issuer_chain"]),
                "SGX-Enclave-Identity-Issuer-Chain": url_quote(parts["qe_identity_issuer_chain"]),
            },
            "rootcacrl": parts["root_ca_crl"].hex(),
            "pckcacrl": {crl_field: parts["pck_crl"].hex()},
        },
    }
    return json.dumps(document).encode()


def _signatures() -> Iterator[bytes]:
    """Valid signatures of each bundle, as the ``signature`` target reads them: the QE report's and the quote's
    (r || s), the PCK certificate's (DER)."""
    for bundle in bundles():
        quote = Quote.parse(bundle.parts["quote"])
        chain = [Certificate.from_pem(block) for block in split_pem_chain(quote.pck_chain_pem or b"")]
        if len(chain) < 2:
            continue
        pck, issuer = chain[0], chain[1]
        for form, point, signature, data in (
            (0, pck.public_key_bytes, quote.qe_report_signature, quote.qe_report.raw),
            (0, b"\x04" + quote.attestation_key, quote.signature, quote.signed_data),
            (1, issuer.public_key_bytes, pck.x509.signature, pck.x509.tbs_certificate_bytes),
        ):
            yield bytes([form]) + point + bytes([len(signature)]) + signature + data


def seeds(target: str) -> Iterator[bytes]:
    """The seed inputs of ``target`` (``all``: every target's, each behind its index byte)."""
    if target == "all":
        for index, name in enumerate(NAMES):
            for seed in seeds(name):
                yield bytes([index]) + seed
        return
    all_bundles = bundles()
    if target == "quote":
        yield from (b.parts["quote"] for b in all_bundles)
    elif target == "certificate":
        yield from _certificates()
    elif target == "crl":
        yield from (b.parts[p] for b in all_bundles for p in ("root_ca_crl", "pck_crl"))
    elif target in ("tcb_info", "qe_identity"):
        yield from (b.parts[target] for b in all_bundles)
    elif target == "collateral":
        yield from _collateral_files()
    elif target == "pccs_file":
        yield from (_pccs_file(i) for i in range(len(all_bundles)))
    elif target == "signature":
        yield from _signatures()
    elif target in ("verify", "admission"):
        for i, bundle in enumerate(all_bundles):
            for j, part in enumerate(PARTS):
                yield bytes([i, j]) + bundle.parts[part]
    else:
        raise KeyError(f"no fuzz target {target!r}")


def write_seeds(target: str, directory: Path) -> int:
    """Write ``target``'s seeds into ``directory`` (named by content); how many."""
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for seed in seeds(target):
        (directory / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
        count += 1
    return count
