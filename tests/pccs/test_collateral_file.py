"""Intel's ``platformcollateral`` files of API v3 and v4: built as Intel's PCCS admin tool writes them (``pccsadmin
fetch`` against PCS v3 or v4), exported and imported again, refused when they are of the other API version or
tampered with, and never allowed to replace newer cached collateral with older."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from cryptography import x509

from pydcap.cli import main
from pydcap.intel.protocol import url_encoded
from pydcap.pccs import CachingMode, export_collateral
from pydcap.sim import SimulatedIntel
from pydcap.sim import catalog as cat
from pydcap.sim.catalog import EARLY_EVALUATION, STANDARD_EVALUATION
from pydcap.sim.server import SimulatedPcs
from tests.pem_patch import patch_certificate
from tests.support.pccs import ADMIN, TCB_CHAIN, V4, Factory, admin_tool_file, client, pckcert_params, registration

V3 = "/sgx/certification/v3"


@pytest.fixture
def own_intel(tmp_path: Path) -> tuple[SimulatedIntel, Path]:
    """A simulated Intel of this test alone (it revokes certificates, which reissues its CRLs), and its root."""
    intel = SimulatedIntel(seed=31)
    root = tmp_path / "own-root.pem"
    root.write_bytes(intel.root_pem)
    return intel, root


# ---- API v3 ---------------------------------------------------------------------------------------------


def test_a_v3_file_as_intels_admin_tool_writes_it_is_served_by_the_v3_api(
    make_pccs: Factory, intel: SimulatedIntel
) -> None:
    platform = intel.sgx_platform(name="v3-import")
    document = admin_tool_file(intel, [platform], api=3)
    fmspc = platform.fmspc.hex()
    offline = make_pccs(CachingMode.OFFLINE, name="v3-offline")
    with client(offline) as c:
        put = c.put(f"{V3}/platformcollateral", json=document, headers=ADMIN)
        assert put.status_code == 200, put.text
        # the file carries no issuer chain of the platform CA (no platform of that CA), so its CRL cannot be
        # checked: left out, and said so
        assert "PCK CRL (platform CA)" in put.headers["Warning"] and "no issuer chain" in put.headers["Warning"]
        tcb = c.get(f"{V3}/tcb", params={"fmspc": fmspc})
        assert tcb.status_code == 200, tcb.text
        assert tcb.content == intel.tcb_info(platform.fmspc, version=2)
        assert unquote(tcb.headers["SGX-TCB-Info-Issuer-Chain"]).encode() == intel.signing_chain
        for path, enclave in (("qe/identity", "QE"), ("qve/identity", "QVE")):
            assert c.get(f"{V3}/{path}").content == intel.enclave_identity(enclave, advisories=False), path
        crl = c.get(f"{V3}/pckcrl", params={"ca": "processor", "encoding": "der"})
        assert crl.status_code == 200 and crl.content == intel.pck_crl("processor")
        assert c.get(f"{V3}/pckcrl", params={"ca": "platform"}).status_code == 404
        assert c.get(f"{V3}/rootcacrl").content == intel.root_ca_crl().hex().encode()
        cert = c.get(f"{V3}/pckcert", params=pckcert_params(platform, with_ppid=False))
        assert cert.status_code == 200, cert.text
        assert cert.content == platform.pck.pem
        # API v3 documents are other documents (TCB info v2, identities without advisories): never served as v4
        assert c.get(f"{V4}/tcb", params={"fmspc": fmspc}).status_code == 404
        assert c.get(f"{V4}/qe/identity").status_code == 404


def test_a_v3_export_imports_into_a_fresh_pccs_with_the_same_answers(
    make_pccs: Factory, intel: SimulatedIntel, root_file: Path, tmp_path: Path
) -> None:
    connected = make_pccs(name="v3-connected")
    platform = intel.sgx_platform(name="v3-round-trip")
    paths = [
        f"{V3}/tcb?fmspc={platform.fmspc.hex()}",
        f"{V3}/qe/identity",
        f"{V3}/qve/identity",
        f"{V3}/pckcrl?ca=processor&encoding=der",
        f"{V3}/rootcacrl",
        f"{V3}/pckcert?" + "&".join(f"{k}={v}" for k, v in pckcert_params(platform, with_ppid=False).items()),
    ]
    with client(connected) as c:
        assert c.get(f"{V3}/pckcert", params=pckcert_params(platform)).status_code == 200
        expected = {path: c.get(path) for path in paths}
    assert all(answer.status_code == 200 for answer in expected.values())
    exported = tmp_path / "v3.json"
    assert main(["pccs", "export", "--api", "3", "--db", str(connected.config.database), "--root-ca", str(root_file),
                 "-o", str(exported)]) == 0  # fmt: skip
    document = json.loads(exported.read_text())
    collaterals = document["collaterals"]
    assert collaterals["version"] == 3 and TCB_CHAIN[3] in collaterals["certificates"]
    assert [sorted(item) for item in collaterals["tcbinfos"]] == [["fmspc", "tcbinfo"]]
    assert "tdqeidentity" not in collaterals
    assert document == export_collateral(connected.app.service, api=3)

    fresh = make_pccs(CachingMode.OFFLINE, name="v3-fresh")
    with client(fresh) as c:
        put = c.put(f"{V3}/platformcollateral", json=document, headers=ADMIN)
        assert put.status_code == 200, put.text
        for path, answer in expected.items():
            again = c.get(path)
            assert (again.status_code, again.content) == (200, answer.content), path


def test_a_v3_file_fetched_for_a_platform_list_carries_the_v3_tcb_info(
    make_pccs: Factory, intel: SimulatedIntel, pcs: SimulatedPcs, root_file: Path, tmp_path: Path
) -> None:
    """Intel's flow on the connected machine (``export --api 3 --platforms``): registering fetches the API v4 TCB
    infos, but the v3 file must carry those of API v3, or the air-gapped PCCS cannot select a certificate."""
    platform = intel.sgx_platform(name="v3-fetched")
    listing, fetched = tmp_path / "platform_list.json", tmp_path / "v3-fetched.json"
    listing.write_text(json.dumps([registration(platform)]))
    assert main(["pccs", "export", "--api", "3", "--db", str(tmp_path / "fetch.sqlite3"), "--root-ca", str(root_file),
                 "--platforms", str(listing), "--upstream", pcs.url, "-o", str(fetched)]) == 0  # fmt: skip
    document = json.loads(fetched.read_text())
    [item] = document["collaterals"]["tcbinfos"]
    assert sorted(item) == ["fmspc", "tcbinfo", "tcbinfo_early"]
    assert item["tcbinfo"] == json.loads(intel.tcb_info(platform.fmspc, version=2))
    offline = make_pccs(CachingMode.OFFLINE, name="v3-fetched")
    with client(offline) as c:
        assert c.put(f"{V3}/platformcollateral", json=document, headers=ADMIN).status_code == 200
        tcb = c.get(f"{V3}/tcb", params={"fmspc": platform.fmspc.hex()})
        assert tcb.status_code == 200 and tcb.content == intel.tcb_info(platform.fmspc, version=2)
        cert = c.get(f"{V3}/pckcert", params=pckcert_params(platform, with_ppid=False))
        assert cert.status_code == 200 and cert.content == platform.pck.pem, cert.text


def test_a_file_of_one_api_version_is_refused_by_the_other(make_pccs: Factory, intel: SimulatedIntel) -> None:
    platform = intel.sgx_platform(name="v3-wrong-api")
    v3, v4 = admin_tool_file(intel, [platform], api=3), admin_tool_file(intel, [platform], api=4)
    unversioned = copy.deepcopy(v3)  # Intel's v3 schema has no version: the field names say which API it is of
    del unversioned["collaterals"]["version"]
    mislabelled = copy.deepcopy(v4)
    mislabelled["collaterals"]["version"] = 3
    offline = make_pccs(CachingMode.OFFLINE, name="wrong-api")
    with client(offline) as c:
        for api, body, file_api in ((4, v3, 3), (4, unversioned, 3), (3, v4, 4)):
            refused = c.put(f"/sgx/certification/v{api}/platformcollateral", json=body, headers=ADMIN)
            assert refused.status_code == 400, refused.text
            assert f"API v{file_api}" in refused.text, refused.text
            assert f"/sgx/certification/v{file_api}/platformcollateral" in refused.text, refused.text
        refused = c.put(f"{V3}/platformcollateral", json=mislabelled, headers=ADMIN)
        assert refused.status_code == 400 and "sgx_tcbinfo" in refused.text, refused.text
        assert c.get(f"{V4}/rootcacrl").status_code == 404  # nothing of any of them was stored
        assert c.get(f"{V3}/pckcert", params=pckcert_params(platform, with_ppid=False)).status_code == 461
        assert c.put(f"{V3}/platformcollateral", json=unversioned, headers=ADMIN).status_code == 200
        assert c.put(f"{V4}/platformcollateral", json=v4, headers=ADMIN).status_code == 200


def test_a_field_of_the_other_api_that_is_null_does_not_decide_the_version(
    make_pccs: Factory, intel: SimulatedIntel
) -> None:
    platform = intel.sgx_platform(name="null-v3-field")
    v4 = admin_tool_file(intel, [platform], api=4)
    for item in v4["collaterals"]["tcbinfos"]:
        item["tcbinfo"] = None  # what a tool writing every field of both versions would give
    with client(make_pccs(CachingMode.OFFLINE, name="null-field")) as c:
        answer = c.put(f"{V4}/platformcollateral", json=v4, headers=ADMIN)
        assert answer.status_code == 200, answer.text


def _later(document: str) -> str:
    """The document with its nextUpdate a year later: what someone stretching stale collateral would do."""
    body = json.loads(document)
    inner = body["tcbInfo"] if "tcbInfo" in body else body["enclaveIdentity"]
    inner["nextUpdate"] = str(int(inner["nextUpdate"][:4]) + 1) + inner["nextUpdate"][4:]
    return json.dumps(body, separators=(",", ":"))


def _tamper_tcb_info(collaterals: dict[str, Any]) -> None:
    item = collaterals["tcbinfos"][0]
    item["tcbinfo"] = json.loads(_later(json.dumps(item["tcbinfo"], separators=(",", ":"))))


def _tamper_qe_identity(collaterals: dict[str, Any]) -> None:
    collaterals["qeidentity"] = _later(collaterals["qeidentity"])


def _tamper_pck_crl(collaterals: dict[str, Any]) -> None:
    crl = collaterals["pckcacrl"]["processorCrl"]
    collaterals["pckcacrl"]["processorCrl"] = crl[:-2] + f"{int(crl[-2:], 16) ^ 1:02x}"  # in the signature


@pytest.mark.parametrize("tamper", [_tamper_tcb_info, _tamper_qe_identity, _tamper_pck_crl])
def test_a_tampered_v3_file_is_refused_and_nothing_of_it_is_stored(
    make_pccs: Factory, intel: SimulatedIntel, tamper: Any
) -> None:
    platform = intel.sgx_platform(name="v3-tampered")
    document = admin_tool_file(intel, [platform], api=3)
    tamper(document["collaterals"])
    offline = make_pccs(CachingMode.OFFLINE, name="v3-tampered")
    with client(offline) as c:
        refused = c.put(f"{V3}/platformcollateral", json=document, headers=ADMIN)
        assert refused.status_code == 460, refused.text
        assert refused.text.startswith("The integrity of the data can't be verified.")
        assert "nothing was imported" in refused.text
        for path in (f"{V3}/tcb?fmspc={platform.fmspc.hex()}", f"{V3}/qe/identity", f"{V3}/qve/identity",
                     f"{V3}/pckcrl?ca=processor", f"{V3}/rootcacrl", f"{V4}/rootcacrl"):  # fmt: skip
            assert c.get(path).status_code == 404, path
        assert c.get(f"{V3}/pckcert", params=pckcert_params(platform, with_ppid=False)).status_code == 461


# ---- never older than what is cached ---------------------------------------------------------------


def test_an_older_file_keeps_the_newer_cached_documents_and_imports_the_rest(
    make_pccs: Factory, own_intel: tuple[SimulatedIntel, Path]
) -> None:
    intel, root = own_intel
    first, second = intel.sgx_platform(name="rollback-first"), intel.sgx_platform(name="rollback-second")
    older = admin_tool_file(intel, [second], api=4, evaluation=STANDARD_EVALUATION)
    intel.revoke(intel.sgx_platform(name="rollback-revoked"))  # Intel reissues the processor CA's CRL
    newer = admin_tool_file(intel, [first], api=4, evaluation=EARLY_EVALUATION)
    fmspc = first.fmspc.hex()
    offline = make_pccs(CachingMode.OFFLINE, name="rollback", root_ca=str(root))
    with client(offline) as c:
        assert c.put(f"{V4}/platformcollateral", json=newer, headers=ADMIN).status_code == 200
        put = c.put(f"{V4}/platformcollateral", json=older, headers=ADMIN)
        assert put.status_code == 200, put.text
        kept = put.headers["Warning"]
        for what in (f"SGX TCB info for FMSPC {fmspc.upper()}", "the QE identity", "QvE identity",
                     "PCK CRL (processor CA)"):  # fmt: skip
            assert what in kept, kept
        assert "root CA CRL" not in kept  # the same in both files: nothing older
        tcb = c.get(f"{V4}/tcb", params={"fmspc": fmspc})
        assert tcb.content == intel.tcb_info(fmspc, evaluation=EARLY_EVALUATION)
        assert c.get(f"{V4}/qe/identity").content == intel.enclave_identity("QE", evaluation=EARLY_EVALUATION)
        crl = c.get(f"{V4}/pckcrl", params={"ca": "processor", "encoding": "der"})
        assert crl.content == intel.pck_crl("processor")
        # the rest of the older file was imported: its platform is served
        cert = c.get(f"{V4}/pckcert", params=pckcert_params(second, with_ppid=False))
        assert cert.status_code == 200 and cert.content == second.pck.pem


def test_the_warning_of_an_import_that_leaves_out_many_documents_stays_short(
    make_pccs: Factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A file older than the cache for many FMSPCs (Intel's PCS has over a hundred): the Warning header names a few
    documents and counts the rest (a header naming hundreds is refused by proxies and by Python's http.client)."""
    catalog = cat.default_catalog()
    fmspcs = [bytes.fromhex(f"00A0{i:04X}0000") for i in range(30)]
    for fmspc in fmspcs:
        catalog = catalog.with_fmspc(cat.default_entry(fmspc, tdx=False))
    intel = SimulatedIntel(seed=37, catalog=catalog)
    root = tmp_path / "many-root.pem"
    root.write_bytes(intel.root_pem)

    def tcb_infos_file(evaluation: int) -> Any:
        document = admin_tool_file(intel, [], api=4, evaluation=evaluation)
        document["collaterals"]["tcbinfos"] = [
            {"fmspc": f.hex().upper(), "sgx_tcbinfo": json.loads(intel.tcb_info(f, evaluation=evaluation))}
            for f in fmspcs
        ]
        return document

    offline = make_pccs(CachingMode.OFFLINE, name="many", root_ca=str(root))
    with client(offline) as c:
        newer = c.put(f"{V4}/platformcollateral", json=tcb_infos_file(EARLY_EVALUATION), headers=ADMIN)
        assert newer.status_code == 200, newer.text
        caplog.clear()
        older = c.put(f"{V4}/platformcollateral", json=tcb_infos_file(STANDARD_EVALUATION), headers=ADMIN)
        assert older.status_code == 200, older.text
    logged = [r.getMessage() for r in caplog.records if "not imported" in r.getMessage()]
    assert len(logged) > 30  # every TCB info and identity, with why
    warning = older.headers["Warning"]
    assert len(warning) < 2048, len(warning)
    assert warning.startswith('299 - "not imported: the ') and warning.endswith(' more (the PCCS log names each)"')
    assert f"and {len(logged) - 10} more" in warning


def test_an_older_file_does_not_bring_back_a_revoked_certificate(
    make_pccs: Factory, own_intel: tuple[SimulatedIntel, Path]
) -> None:
    intel, root = own_intel
    platform = intel.sgx_platform(name="rollback-revoked-level")
    older = admin_tool_file(intel, [platform], api=4)
    selected = platform.pck.pem  # the certificate PCS and the PCCS select for the platform's own TCB
    [tcbm] = [tcbm for _, tcbm, pem in intel.pck_certificates(platform) if pem == selected]
    serial = x509.load_pem_x509_certificate(selected).serial_number
    intel.revocations.revoke(intel.pki.intermediate(platform.ca), serial)
    newer = admin_tool_file(intel, [platform], api=4)
    offline = make_pccs(CachingMode.OFFLINE, name="revoked", root_ca=str(root))
    with client(offline) as c:
        assert c.put(f"{V4}/platformcollateral", json=newer, headers=ADMIN).status_code == 200
        before = c.get(f"{V4}/pckcert", params=pckcert_params(platform, with_ppid=False))
        assert before.status_code == 200 and before.content != selected
        assert c.put(f"{V4}/platformcollateral", json=older, headers=ADMIN).status_code == 200
        after = c.get(f"{V4}/pckcert", params=pckcert_params(platform, with_ppid=False))
        assert after.status_code == 200, after.text
        assert after.content == before.content and after.headers["SGX-TCBm"] != tcbm.upper()


def test_the_import_command_says_which_newer_cached_documents_it_kept(
    own_intel: tuple[SimulatedIntel, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    intel, root = own_intel
    platform = intel.sgx_platform(name="rollback-cli")
    older, newer = tmp_path / "older.json", tmp_path / "newer.json"
    older.write_text(json.dumps(admin_tool_file(intel, [platform], api=4, evaluation=STANDARD_EVALUATION)))
    newer.write_text(json.dumps(admin_tool_file(intel, [platform], api=4, evaluation=EARLY_EVALUATION)))
    db = str(tmp_path / "offline.sqlite3")
    assert main(["pccs", "import", str(newer), "--db", db, "--root-ca", str(root)]) == 0
    capsys.readouterr()
    assert main(["pccs", "import", str(older), "--db", db, "--root-ca", str(root)]) == 0
    said = capsys.readouterr().out
    assert "not imported" in said and f"SGX TCB info for FMSPC {platform.fmspc.hex().upper()}" in said, said
    assert "older than the one already cached" in said


# ---- hostile files: a 400 or 460 naming what is wrong, never a 500 ----------------------------------


def _surrogate_in_tcb_info(collaterals: dict[str, Any]) -> None:
    collaterals["tcbinfos"][0]["sgx_tcbinfo"]["tcbInfo"]["id"] = "SGX\ud800"


def _surrogate_in_identity(collaterals: dict[str, Any]) -> None:
    collaterals["qeidentity"] = collaterals["qeidentity"][:-1] + "\ud800}"


def _surrogate_in_chain(collaterals: dict[str, Any]) -> None:
    collaterals["certificates"]["TCB-Info-Issuer-Chain"] += "\ud800"


def _bad_version_certificate(collaterals: dict[str, Any]) -> None:
    cert = collaterals["pck_certs"][0]["certs"][0]
    patched = patch_certificate(unquote(cert["cert"]).encode(), 0, b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x07")
    cert["cert"] = url_encoded(patched)


def _unknown_curve_in_the_signing_chain(collaterals: dict[str, Any]) -> None:
    chain = unquote(collaterals["certificates"]["TCB-Info-Issuer-Chain"]).encode()
    p256, other = bytes.fromhex("06082a8648ce3d030107"), bytes.fromhex("06082a8648ce3d030108")
    collaterals["certificates"]["TCB-Info-Issuer-Chain"] = url_encoded(patch_certificate(chain, 1, p256, other))


@pytest.mark.parametrize(
    ("hostile", "status", "says"),
    [
        (_surrogate_in_tcb_info, 400, "sgx_tcbinfo: not UTF-8 text"),
        (_surrogate_in_identity, 400, "qeidentity: not UTF-8 text"),
        (_surrogate_in_chain, 400, "TCB-Info-Issuer-Chain: not UTF-8 text"),
        (_bad_version_certificate, 400, "X509 version"),
        (_unknown_curve_in_the_signing_chain, 460, "nothing was imported"),
    ],
)
def test_a_hostile_file_is_refused_with_what_is_wrong_never_a_500(
    make_pccs: Factory, intel: SimulatedIntel, hostile: Any, status: int, says: str
) -> None:
    platform = intel.sgx_platform(name="hostile-import")
    document = admin_tool_file(intel, [platform], api=4)
    hostile(document["collaterals"])
    with client(make_pccs(CachingMode.OFFLINE, name="hostile")) as c:
        body = json.dumps(document).encode()  # ASCII: a lone surrogate is sent escaped, as "\ud800"
        refused = c.put(f"{V4}/platformcollateral", content=body, headers={**ADMIN, "Content-Type": "application/json"})
        assert refused.status_code == status and says in refused.text, refused.text
        assert c.get(f"{V4}/rootcacrl").status_code == 404  # nothing of it was stored
