"""``pydcap doctor`` on faked machines: device trees, containers, AESM, plugins, configurations and real
loopback collateral services (plain, failing, and HTTPS with an untrusted certificate)."""

from __future__ import annotations

import datetime
import http.server
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pydcap.cli import main
from pydcap.doctor.diagnosis import DoctorReport, examine
from pydcap.doctor.probe import probe_service
from pydcap.provider.discovery import SEARCH_PATHS
from pydcap.sim import SimulatedIntel
from pydcap.sim.server import SimulatedPcs
from tests.provider.pccs_server import loopback_server
from tests.support.provider import build_plugins, install


@pytest.fixture(scope="module")
def plugins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_plugins(tmp_path_factory.mktemp("doctor-plugins"))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "sysroot"
    r.mkdir()
    return r


def touch(root: Path, *paths: str) -> None:
    for p in paths:
        target = root / p.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()


def aesm_socket(root: Path) -> socket.socket:
    path = root / "var/run/aesmd/aesm.socket"
    path.parent.mkdir(parents=True)
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    return s


def run(root: Path, *, env: dict[str, str] | None = None, **kwargs: object) -> DoctorReport:
    return examine(env={"PYDCAP_SYSROOT": str(root), **(env or {})}, network=False, **kwargs)  # type: ignore[arg-type]


def finding(report: DoctorReport, topic: str) -> list[tuple[str, str]]:
    return [(f.level, f.message) for f in report.findings if f.topic == topic]


def only(report: DoctorReport, topic: str) -> tuple[str, str]:
    (result,) = finding(report, topic)
    return result


# ---- devices -------------------------------------------------------------------------------------


def test_in_kernel_sgx_with_aesm_is_ready(root: Path) -> None:
    touch(root, "/dev/sgx_enclave", "/dev/sgx_provision")
    with aesm_socket(root):
        report = run(root)
    assert only(report, "sgx")[0] == "ok"
    assert only(report, "aesm") == ("ok", "AESM socket at /var/run/aesmd/aesm.socket")
    assert report.can_quote and report.healthy
    assert report.to_dict()["machine"]["sgx"]["driver"] == "in-kernel"


def test_sgx_without_provisioning_device(root: Path) -> None:
    touch(root, "/dev/sgx_enclave")
    level, message = only(run(root), "sgx")
    assert level == "warning" and "/dev/sgx_provision is not" in message


def test_legacy_driver(root: Path) -> None:
    touch(root, "/dev/sgx/enclave", "/dev/sgx/provision")
    report = run(root)
    level, message = only(report, "sgx")
    assert level == "warning" and "legacy out-of-tree SGX driver" in message and "missing" not in message
    assert report.machine.sgx_driver == "legacy" and report.can_quote


def test_no_tee_at_all(root: Path) -> None:
    report = run(root)
    assert only(report, "sgx")[0] == "info"
    assert only(report, "tdx")[0] == "info"
    assert "cannot produce quotes" in only(report, "quotes")[1]
    assert not report.can_quote and report.healthy


@pytest.mark.parametrize("path", ["/dev/tdx_guest", "/sys/kernel/config/tsm/report/"])
def test_tdx_guest(root: Path, path: str) -> None:
    if path.endswith("/"):
        (root / path.strip("/")).mkdir(parents=True)
    else:
        touch(root, path)
    report = run(root)
    level, message = only(report, "tdx")
    assert level == "ok" and path.rstrip("/") in message
    assert report.can_quote and not finding(report, "quotes")


# ---- container -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("marker", "content", "hint"),
    [
        ("/.dockerenv", "", "/.dockerenv exists (Docker)"),
        ("/run/.containerenv", "", "/run/.containerenv exists (Podman)"),
        ("/proc/1/cgroup", "0::/kubepods/besteffort/pod1\n", "/proc/1/cgroup mentions kubepods"),
    ],
)
def test_container_without_devices_gets_the_flags(root: Path, marker: str, content: str, hint: str) -> None:
    target = root / marker.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content)
    report = run(root)
    (info, warning) = finding(report, "container")
    assert info == ("info", f"running in a container: {hint}")
    assert warning[0] == "warning"
    assert "--device /dev/sgx_enclave --device /dev/sgx_provision --volume /var/run/aesmd:/var/run/aesmd" in warning[1]
    assert "--device /dev/tdx_guest" in warning[1]
    container = report.to_dict()["machine"]["container"]
    assert container["detected"] and "--device /dev/sgx_enclave" in container["missing_flags"]


def test_container_with_devices_needs_only_what_is_missing(root: Path) -> None:
    touch(root, "/.dockerenv", "/dev/sgx_enclave", "/dev/sgx_provision")
    report = run(root)
    assert [level for level, _ in finding(report, "container")] == ["info"]
    missing = report.machine.missing_container_flags()
    assert "--device /dev/sgx_enclave" not in missing
    assert "--volume /var/run/aesmd:/var/run/aesmd" in missing
    level, message = only(report, "aesm")
    assert level == "warning" and "--volume /var/run/aesmd:/var/run/aesmd" in message


def test_not_in_a_container(root: Path) -> None:
    (root / "proc/1").mkdir(parents=True)
    (root / "proc/1/cgroup").write_text("0::/init.scope\n")
    assert only(run(root), "container")[1].startswith("not running in a container")


# ---- AESM ----------------------------------------------------------------------------------------


def test_aesm_missing_with_sgx_and_not_a_socket(root: Path) -> None:
    touch(root, "/dev/sgx_enclave", "/dev/sgx_provision")
    level, message = only(run(root), "aesm")
    assert level == "warning" and "sgx-aesm-service" in message and "container" not in message
    touch(root, "/var/run/aesmd/aesm.socket")
    level, message = only(run(root), "aesm")
    assert level == "warning" and "is a file, not a socket" in message


# ---- provider ------------------------------------------------------------------------------------


def test_provider_json_from_the_command_line(
    root: Path, plugins: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first = install(plugins["azure"], root, SEARCH_PATHS[1])
    second = install(plugins["intel"], root, SEARCH_PATHS[3])
    monkeypatch.setenv("PYDCAP_SYSROOT", str(root))
    for name in ("PYDCAP_PROVIDER", "QCNL_CONF_PATH"):
        monkeypatch.delenv(name, raising=False)
    assert main(["doctor", "--json", "--offline"]) == 0
    data = json.loads(capsys.readouterr().out)
    provider = data["provider"]
    assert provider["selected"] == str(first)
    assert [c["path"] for c in provider["candidates"]] == [str(first), str(second)]
    assert [c["flavor"] for c in provider["candidates"]] == ["azure", "intel"]
    assert provider["reason"].startswith("the first plugin found in the documented search order (position 2 of 4")
    assert any("2 different quote provider libraries" in w for w in provider["warnings"])
    assert data["azure"]["log_level"] == "silent"  # the Azure plugin won: its settings are shown


def test_bundled_in_json_and_human_output(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PYDCAP_SYSROOT", str(root))
    monkeypatch.delenv("PYDCAP_PROVIDER", raising=False)
    assert main(["doctor", "--json", "--offline"]) == 0
    provider = json.loads(capsys.readouterr().out)["provider"]
    assert (provider["selected"], provider["candidates"]) == ("bundled", [])
    assert provider["reason"].startswith("no libdcap_quoteprov.so installed")
    assert main(["doctor", "--offline"]) == 0
    text = capsys.readouterr().out
    assert "selected bundled" in text and "No errors" in text


def test_unusable_winner_is_an_error(
    root: Path, plugins: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = install(plugins["broken"], root, SEARCH_PATHS[0])
    install(plugins["intel"], root, SEARCH_PATHS[2])
    monkeypatch.setenv("PYDCAP_SYSROOT", str(root))
    monkeypatch.delenv("PYDCAP_PROVIDER", raising=False)
    assert main(["doctor", "--offline"]) == 1
    text = capsys.readouterr().out
    assert f"attestation will fail: {broken}" in text and "1 error" in text


def test_bad_explicit_provider(root: Path) -> None:
    report = run(root, provider="intle")
    level, message = only(report, "provider")
    assert level == "error" and "unknown provider" in message
    assert report.to_dict()["provider"] == {"error": message}


# ---- configuration -------------------------------------------------------------------------------


def write_qcnl(root: Path, text: str) -> Path:
    path = root / "etc/sgx_default_qcnl.conf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_broken_qcnl_is_an_error_when_the_intel_plugin_reads_it(root: Path, plugins: dict[str, Path]) -> None:
    install(plugins["intel"], root, SEARCH_PATHS[0])
    path = write_qcnl(root, '{\n  "pccs_url": "https://pccs.test/sgx/certification/v4/",\n  "use_secure_cert": "no"\n}')
    report = run(root)
    level, message = only(report, "qcnl")
    assert level == "error" and f"{path}:3: use_secure_cert: must be true or false" in message
    assert report.to_dict()["qcnl"]["error"].startswith(f"{path}:3")
    assert not report.healthy


def test_broken_qcnl_is_a_warning_for_the_bundled_provider(root: Path) -> None:
    write_qcnl(root, "{ oops }")
    assert only(run(root), "qcnl")[0] == "warning"


def test_qcnl_as_parsed_with_its_risks(root: Path) -> None:
    write_qcnl(root, '{"pccs_url": "https://pccs.test/certification/v4/", "use_secure_cert": false}')
    report = run(root, provider="intel")
    messages = finding(report, "qcnl")
    assert messages[0][0] == "ok" and "collateral from https://pccs.test/certification/v4/" in messages[0][1]
    assert ("warning", "use_secure_cert is false: the collateral service's TLS certificate is not checked") in messages
    assert any(level == "warning" and "TDX collateral cannot be fetched" in m for level, m in messages)
    assert report.to_dict()["qcnl"]["use_secure_cert"] is False


def test_text_output_shows_brackets_in_paths_instead_of_reading_them_as_markup(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = tmp_path / "[/oops]" / "[bold]qcnl.conf"  # "[/oops]" is two directories, "[" and "oops]"
    odd.parent.mkdir(parents=True)
    odd.write_text('{ "use_secure_cert": "no" }')
    monkeypatch.setenv("PYDCAP_SYSROOT", str(root))
    monkeypatch.setenv("QCNL_CONF_PATH", str(odd))
    assert main(["doctor", "--offline", "--provider", "intel"]) == 1
    text = " ".join(capsys.readouterr().out.split())  # the console may wrap long lines
    assert f"broken QCNL configuration: {odd}:1: use_secure_cert" in text


def test_qcnl_path_from_environment(root: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "qcnl.conf"
    elsewhere.write_text("PCCS_URL=https://legacy.test/sgx/certification/v3/\n")
    report = run(root, env={"QCNL_CONF_PATH": str(elsewhere)}, provider="qcnl")
    assert f"{elsewhere} (legacy)" in only(report, "qcnl")[1]


def test_azure_settings(root: Path) -> None:
    report = run(root, provider="azure", env={"AZDCAP_DEBUG_LOG_LEVEL": "FATAL"})
    level, message = only(report, "azure")
    assert level == "ok" and "logging silent" in message
    report = run(root, provider="azure", env={"AZDCAP_COLLATERAL_VERSION": "v9"})
    level, message = only(report, "azure")
    assert level == "error" and "AZDCAP_COLLATERAL_VERSION" in message and "v2, v3 or v4" in message
    assert only(run(root, env={"AZDCAP_COLLATERAL_VERSION": "v9"}), "azure")[0] == "warning"


def test_azure_collateral_version_pydcaps_provider_refuses(root: Path, plugins: dict[str, Path]) -> None:
    # Azure's client reads v2 collateral, pydcap's Azure provider does not: opening it would fail.
    report = run(root, provider="azure", env={"AZDCAP_COLLATERAL_VERSION": "v2"})
    level, message = only(report, "azure")
    assert level == "error" and "reads v3 and v4 collateral" in message and not report.healthy
    install(plugins["azure"], root, SEARCH_PATHS[0])  # Azure's own plugin reads v2: nothing to say against it
    report = run(root, env={"AZDCAP_COLLATERAL_VERSION": "v2"})
    assert only(report, "azure")[0] == "ok"
    assert only(report, "service")[1].endswith(
        "/v2/qe/identity?clientid=production_client&api-version=2018-10-01-preview"
    )


# ---- collateral service --------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 404 if "missing" in self.path else 200
        body = b'{"enclaveIdentity": {}}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(context: ssl.SSLContext | None = None) -> Iterator[str]:
    with loopback_server(_Handler, context) as root:
        yield f"{root}/sgx/certification/v4/"


@pytest.fixture
def pccs_url() -> Iterator[str]:
    yield from _serve()


@pytest.fixture
def self_signed_pccs(tmp_path: Path) -> Iterator[str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    yield from _serve(context)


def probe(root: Path, *, env: dict[str, str] | None = None, **kwargs: object) -> DoctorReport:
    environment = env or {"PYDCAP_SYSROOT": str(root)}
    return examine(env=environment, network=True, timeout=2.0, **kwargs)  # type: ignore[arg-type]


def test_configured_service_answers(root: Path, pccs_url: str) -> None:
    write_qcnl(root, json.dumps({"pccs_url": pccs_url, "tcb_update_type": "early"}))
    report = probe(root, provider="intel")
    level, message = only(report, "service")
    assert level == "ok" and f"{pccs_url}qe/identity?update=early answered HTTP 200" in message
    assert report.to_dict()["collateral_service"]["answered"] is True


def test_service_answering_404(root: Path, pccs_url: str) -> None:
    level, message = only(probe(root, service_url=pccs_url + "missing"), "service")
    assert level == "warning" and "HTTP 404" in message and "no data" in message


def test_service_unreachable(root: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the probe: nothing listens there
    report = probe(root, service_url=f"http://127.0.0.1:{port}/sgx/certification/v4/")
    level, message = only(report, "service")
    assert level == "error" and "collateral cannot be fetched" in message
    assert report.service is not None and report.service.outcome == "unreachable" and not report.healthy


def test_untrusted_tls_certificate_and_use_secure_cert(root: Path, self_signed_pccs: str) -> None:
    write_qcnl(root, json.dumps({"pccs_url": self_signed_pccs}))
    level, message = only(probe(root, provider="intel"), "service")
    assert level == "error" and "TLS certificate not trusted" in message and "use_secure_cert" in message
    write_qcnl(root, json.dumps({"pccs_url": self_signed_pccs, "use_secure_cert": False}))
    assert only(probe(root, provider="intel"), "service")[0] == "ok"


def test_offline_and_nothing_to_check(root: Path) -> None:
    assert only(run(root, provider="intel"), "service")[1].startswith("not checked (--offline)")
    intel_pcs = "https://api.trustedservices.intel.com/sgx/certification/v4/qe/identity"
    assert only(run(root), "service")[1] == f"not checked (--offline): {intel_pcs}"
    broken_azure = run(root, provider="azure", env={"AZDCAP_COLLATERAL_VERSION": "v9"})
    assert "give --service URL" in only(broken_azure, "service")[1]


# ---- the bundled provider --------------------------------------------------------------------------

INTEL = "https://api.trustedservices.intel.com"


def test_bundled_defaults(root: Path) -> None:
    report = run(root, env={"XDG_CACHE_HOME": str(root / "cache")})
    (ok, ok_text), (info, info_text) = finding(report, "bundled")
    store = root / "cache/pydcap/collateral.sqlite3"
    why = "the default: not recognised as an Azure VM (no DMI data under /sys/class/dmi/id)"
    assert (ok, ok_text) == ("ok", f"bundled provider: collateral from Intel PCS at {INTEL} ({why}), kept in {store}")
    assert info == "info"  # this machine makes no quotes, so it needs no PCK certificate
    assert info_text.startswith("no PYDCAP_PCS_API_KEY: Intel PCS serves PCK certificates (needed to make quotes) only")
    assert "or use a PCCS instead: PYDCAP_COLLATERAL_SERVICE=pccs PYDCAP_COLLATERAL_URL=https://" in info_text
    data = report.to_dict()["bundled"]
    assert (data["service"], data["url"], data["api_key"], data["store"]) == ("pcs", INTEL, None, str(store))
    assert data["service_reason"] == why


def test_a_quoting_machine_without_a_pcs_key_is_warned(root: Path) -> None:
    touch(root, "/dev/sgx_enclave", "/dev/sgx_provision")
    levels = {m: level for level, m in finding(run(root), "bundled")}
    assert [level for m, level in levels.items() if m.startswith("no PYDCAP_PCS_API_KEY")] == ["warning"]


def dmi(root: Path, **files: str) -> None:
    for name, value in files.items():
        path = root / "sys/class/dmi/id" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n")


def test_on_an_azure_vm_the_bundled_default_is_azures_cache(root: Path) -> None:
    dmi(root, sys_vendor="Microsoft Corporation", chassis_asset_tag="7783-7084-3265-9085")
    report = run(root, env={"XDG_CACHE_HOME": str(root / "cache")})
    data = report.to_dict()["bundled"]
    assert (data["service"], data["url"]) == ("azure", "https://global.acccache.azure.net/sgx/certification")
    assert data["service_reason"] == (
        "the default on an Azure VM (DMI chassis asset tag 7783-7084-3265-9085): it needs no set-up there"
    )
    messages = [m for _, m in finding(report, "bundled")]
    assert messages[0].startswith("bundled provider: collateral from Azure's collateral cache at https://global.")
    assert not any("PYDCAP_PCS_API_KEY" in m for m in messages)  # nothing to set up
    explicit = run(root, env={"PYDCAP_COLLATERAL_SERVICE": "pcs"}).to_dict()["bundled"]
    assert (explicit["service"], explicit["service_reason"]) == ("pcs", "PYDCAP_COLLATERAL_SERVICE=pcs")


def test_elsewhere_the_default_stays_intel_pcs(root: Path) -> None:
    dmi(root, sys_vendor="QEMU", chassis_asset_tag="")
    data = run(root).to_dict()["bundled"]
    assert (data["service"], data["service_reason"]) == ("pcs", "the default: not an Azure VM (DMI system vendor QEMU)")


def test_bundled_settings_and_their_risks(root: Path, tmp_path: Path) -> None:
    pem = tmp_path / "sim-root.pem"
    pem.write_bytes(SimulatedIntel(seed=1).root_pem)
    env = {
        "PYDCAP_COLLATERAL_SERVICE": "pccs",
        "PYDCAP_COLLATERAL_URL": "https://pccs.example:8081/sgx/certification/v4/",
        "PYDCAP_COLLATERAL_VERIFY_TLS": "false",
        "PYDCAP_CACHE": str(tmp_path / "store.sqlite3"),
        "PYDCAP_TRUSTED_ROOT": str(pem),
    }
    report = run(root, env=env)
    levels = {m: level for level, m in finding(report, "bundled")}
    ok = "bundled provider: collateral from PCCS at https://pccs.example:8081/sgx/certification/v4/ "
    ok += "(PYDCAP_COLLATERAL_SERVICE=pccs), kept in "
    assert levels[f"{ok}{tmp_path / 'store.sqlite3'}"] == "ok"
    assert any(level == "warning" and "not Intel's root" in m and str(pem) in m for m, level in levels.items())
    assert levels["PYDCAP_COLLATERAL_VERIFY_TLS=false: the collateral service's TLS certificate is not checked"]
    assert not any("PYDCAP_PCS_API_KEY" in m for m in levels)  # a PCCS needs no Intel API key
    assert only(report, "service")[1].endswith("https://pccs.example:8081/sgx/certification/v4/qe/identity")
    assert report.to_dict()["bundled"]["variables_set"] == [
        "PYDCAP_COLLATERAL_SERVICE", "PYDCAP_COLLATERAL_URL", "PYDCAP_COLLATERAL_VERIFY_TLS", "PYDCAP_CACHE",
        "PYDCAP_TRUSTED_ROOT",
    ]  # fmt: skip


def test_bad_bundled_settings(root: Path, tmp_path: Path) -> None:
    level, message = only(run(root, env={"PYDCAP_COLLATERAL_SERVICE": "intel"}), "bundled")
    assert level == "error" and "PYDCAP_COLLATERAL_SERVICE" in message and "pcs, pccs or azure" in message
    assert only(run(root, provider="intel", env={"PYDCAP_COLLATERAL_SERVICE": "x"}), "bundled")[0] == "warning"
    level, message = only(run(root, env={"PYDCAP_COLLATERAL_URLS": "http://x"}), "bundled")
    assert level == "error" and "did you mean PYDCAP_COLLATERAL_URL?" in message
    missing = run(root, env={"PYDCAP_TRUSTED_ROOT": str(tmp_path / "absent.pem")})
    assert ("error", f"PYDCAP_TRUSTED_ROOT: cannot read {tmp_path / 'absent.pem'}: No such file or directory") in (
        finding(missing, "bundled")
    )
    assert not missing.healthy


def test_bundled_settings_are_mentioned_when_another_provider_serves(root: Path) -> None:
    report = run(root, provider="intel", env={"PYDCAP_COLLATERAL_SERVICE": "azure"})
    assert only(report, "bundled") == (
        "info",
        "bundled provider settings given but not used: PYDCAP_COLLATERAL_SERVICE",
    )


def test_bundled_service_is_probed(root: Path) -> None:
    with SimulatedPcs(SimulatedIntel(seed=1)) as pcs:
        report = probe(root, env={"PYDCAP_SYSROOT": str(root), "PYDCAP_COLLATERAL_URL": pcs.url})
    level, message = only(report, "service")
    assert level == "ok" and message.startswith(f"{pcs.url}/sgx/certification/v4/qe/identity answered HTTP 200")


def test_a_ca_bundle_that_is_no_bundle_is_a_finding_not_a_traceback(root: Path, tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate")
    env = {"PYDCAP_SYSROOT": str(root), "PYDCAP_COLLATERAL_VERIFY_TLS": str(junk)}
    level, message = only(run(root, env=env), "bundled")
    assert level == "error" and "PYDCAP_COLLATERAL_VERIFY_TLS" in message and "not a usable CA bundle" in message
    answer = probe_service("https://127.0.0.1:9/", verify=str(junk))  # refused before any connection is made
    assert answer.outcome == "unreachable" and answer.detail.startswith(f"cannot use the CA bundle {junk}")


def test_bundled_untrusted_tls_names_its_own_setting(root: Path, self_signed_pccs: str) -> None:
    env = {"PYDCAP_SYSROOT": str(root), "PYDCAP_COLLATERAL_SERVICE": "pccs", "PYDCAP_COLLATERAL_URL": self_signed_pccs}
    level, message = only(probe(root, env=env), "service")
    assert level == "error" and "PYDCAP_COLLATERAL_VERIFY_TLS=/path/to/its-cert.pem" in message
    assert "--ca-cert PEM" in message
