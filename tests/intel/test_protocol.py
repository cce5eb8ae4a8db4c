"""Intel's HTTP API spelled once: paths, parameters in the order each service wants them, encodings."""

from __future__ import annotations

import ast
from pathlib import Path

from pydcap.intel import PckCa, PlatformId, Tee, Update
from pydcap.intel import protocol as api

PLATFORM = PlatformId(b"\x01" * 16, bytes(16), 13, 0, encrypted_ppid=b"\x02" * 384)


def test_paths_and_tdx_only_in_v4() -> None:
    assert api.api_path(Tee.SGX, 3, api.PCK_CRL) == "/sgx/certification/v3/pckcrl"
    assert api.api_path(Tee.TDX, 3, api.TCB_INFO) == "/tdx/certification/v4/tcb"
    assert api.split_api_url("https://pccs:8081/sgx/certification/v3/") == ("https://pccs:8081", 3)
    assert api.split_api_url("https://api.trustedservices.intel.com") == ("https://api.trustedservices.intel.com", None)


def test_parameters_in_each_service_order() -> None:
    assert list(api.pckcert_params(PLATFORM, with_qe_id=False)) == ["encrypted_ppid", "cpusvn", "pcesvn", "pceid"]
    assert list(api.pckcert_params(PLATFORM, with_qe_id=True)) == [
        "qeid",
        "cpusvn",
        "pcesvn",
        "pceid",
        "encrypted_ppid",
    ]
    no_ppid = PlatformId(b"\x01" * 16, bytes(16), 13, 0)
    assert list(api.pckcert_params(no_ppid, with_qe_id=False)) == ["qeid", "cpusvn", "pcesvn", "pceid"]
    assert api.pckcert_params(PLATFORM, with_qe_id=False)["pcesvn"] == "0d00"
    assert api.update_param(Update.STANDARD) == {} and api.update_param(Update.EARLY) == {"update": "early"}
    assert api.pck_crl_params(PckCa.PLATFORM) == {"ca": "platform", "encoding": "der"}


def test_issuer_chains_are_url_encoded_as_encode_uri_component_does() -> None:
    pem = b"-----BEGIN CERTIFICATE-----\nMIIC+/a=\n-----END CERTIFICATE-----\n"
    encoded = api.url_encoded(pem)
    assert "%2B%2Fa%3D%0A" in encoded and "-----BEGIN%20CERTIFICATE-----" in encoded
    assert api.url_decoded(encoded) == pem


def test_intels_header_names_are_spelled_only_here() -> None:
    """Every other module names Intel's headers through pydcap.intel.protocol (Azure's own casing of them, which its
    simulated endpoint serves, is Microsoft's spelling and not Intel's)."""
    names = {value for key, value in vars(api).items() if key.isupper() and isinstance(value, str) and "-" in value}
    src = Path(api.__file__).resolve().parents[1]
    spelled = [
        f"{path.relative_to(src.parent)}:{node.lineno} {node.value}"
        for path in sorted(src.rglob("*.py"))
        if path != Path(api.__file__).resolve()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and node.value in names
    ]
    assert len(names) >= 10 and not spelled, "\n".join(spelled)
