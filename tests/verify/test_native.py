"""The optional native accelerator (``make native``, ``pydcap.pki.native``): it changes how fast a verification
runs, never its result. Every real, negative and simulated bundle, and a simulated fleet, gives the same result
with it as without; it accepts no key or signature encoding that ``cryptography`` refuses; it is off unless
asked for, and a library that cannot be used is named.

The library is built with ``make native`` (cargo, and ring's sources from Debian's librust-ring-dev or
crates.io); where cargo is missing, or ring's sources can be had from neither, these tests are skipped and say
why."""

from __future__ import annotations

import _ctypes
import glob
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pydcap import Collateral, Verifier
from pydcap.pki import native
from pydcap.sim import REFERENCE_TIME, SCENARIOS, SimulatedIntel
from pydcap.sim.fleet import make_fleet
from pydcap.verify import VerificationResult
from tests.support.cli import SGX, run_pydcap, verify_args
from tests.support.sim import AT
from tests.support.testdata import NEGATIVE, REAL, ROOT, real_bundle, require_testdata

_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # the order of P-256


def _debian_ring() -> bool:
    """Whether Debian's packaged ring is installed, which ``make native`` then builds from offline."""
    return bool(glob.glob(os.environ.get("DEBIAN_CRATES", "/usr/share/cargo/registry") + "/ring-0.16.*"))


@pytest.fixture(scope="module")
def library() -> Path:
    """The accelerator, built as a user builds it (``make native``). Skipped when cargo is missing, or when the
    build had to ask crates.io for ring and could not (no Debian crates, no network); any other failure fails."""
    if shutil.which(os.environ.get("CARGO", "cargo")) is None:
        pytest.skip("cargo is not installed: the native accelerator cannot be built here")
    built = subprocess.run(
        ["make", "--no-print-directory", "native"], check=False, cwd=ROOT, capture_output=True, text=True
    )
    if built.returncode != 0 and not _debian_ring():
        reason = next((line for line in built.stderr.splitlines() if line.startswith("error")), "cargo failed")
        pytest.skip(f"ring's sources are not here (apt install librust-ring-dev, or crates.io): {reason}")
    assert built.returncode == 0, built.stderr
    assert native.LIBRARY.is_file()
    return native.LIBRARY


@pytest.fixture
def accelerator(library: Path) -> Iterator[Counter[str]]:
    """The accelerator's checks, counted by answer ("yes" and "no"), so that a test can show it was used; off
    again after the test."""
    native.disable()
    counts: Counter[str] = Counter()
    yield counts
    native.disable()


def _counting(counts: Counter[str]) -> None:
    """Turn the accelerator on with each of its answers counted."""
    native.enable()
    check = native._library.check
    assert check is not None

    def counted(*args: object) -> int:
        answer = check(*args)
        counts["yes" if answer == 1 else "no"] += 1
        return answer

    native._library.check = counted


def _both(counts: Counter[str], appraise: Callable[[], VerificationResult]) -> tuple[VerificationResult, ...]:
    native.disable()
    without = appraise()
    _counting(counts)
    with_it = appraise()
    native.disable()
    return without, with_it


def test_every_real_and_negative_bundle_gives_the_same_result(accelerator: Counter[str]) -> None:
    require_testdata()
    for b in REAL + NEGATIVE:
        without, with_it = _both(
            accelerator, lambda b=b: Verifier().appraise(b.quote, Collateral.load(b.path), at=b.at)
        )
        assert with_it == without, b.name
    assert accelerator["yes"] >= 5 * len(REAL)  # each real bundle: its PCK, QE report, quote and two documents
    assert accelerator["no"] > 0  # the negative bundles' bad signatures, left to cryptography


@pytest.fixture(scope="module")
def intel() -> SimulatedIntel:
    return SimulatedIntel(seed=11, now=REFERENCE_TIME)


def test_every_simulated_scenario_gives_the_same_result(accelerator: Counter[str], intel: SimulatedIntel) -> None:
    """Every scenario on every TEE (forged and revoked certificates, bad signatures, every TCB status), with a new
    verifier each time, so that every check is made."""
    accepted = 0
    for name, scenario in SCENARIOS.items():
        for tee in scenario.tees:
            platform = intel.scenario_platform(name, tee)
            quote, collateral = platform.quote(b"native"), intel.collateral_for(platform)
            without, with_it = _both(
                accelerator, lambda q=quote, c=collateral: Verifier(trusted_root=intel.trust_root).appraise(q, c, at=AT)
            )
            assert with_it == without, (name, tee)
            accepted += without.failure is None
    assert accepted > 50
    assert accelerator["yes"] >= 3 * accepted  # at least the PCK certificate, QE report and quote of each
    assert accelerator["no"] > 0


def test_a_fleet_through_one_verifier_gives_the_same_results(accelerator: Counter[str]) -> None:
    """First contact then re-attesting, through one long-lived verifier in each mode (its caches as in service)."""
    fleet = make_fleet(30)
    verifiers = {False: Verifier(trusted_root=fleet.root_pem), True: Verifier(trusted_root=fleet.root_pem)}
    for attr in ("first", "again"):
        for member in fleet.members:
            quote, collateral = getattr(member, attr), fleet.collateral_of(member)
            without, with_it = _both(
                accelerator, lambda q=quote, c=collateral: verifiers[native.enabled()].appraise(q, c, at=fleet.at)
            )
            assert with_it == without, (attr, member.scenario)
    assert accelerator["yes"] >= 2 * len(fleet.members)


def test_the_command_line_gives_the_same_answer_with_it(library: Path) -> None:
    b = real_bundle(SGX)
    plain = run_pydcap(
        verify_args(b, "--collateral", str(b.path / "collateral"), "--json"), env={native.ENVIRONMENT: "0"}
    )
    fast = run_pydcap(
        verify_args(b, "--collateral", str(b.path / "collateral"), "--json"), env={native.ENVIRONMENT: "1"}
    )
    assert plain.returncode == fast.returncode == 0, fast.stderr
    assert fast.stdout == plain.stdout
    assert fast.stderr == plain.stderr == ""


# --- encodings: it accepts no key or signature that cryptography refuses ---------------------------------------


def _accepted_by_cryptography(point: bytes, der_signature: bytes, data: bytes) -> bool:
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        key.verify(der_signature, data, ec.ECDSA(hashes.SHA256()))
    except (ValueError, InvalidSignature):
        return False
    return True


def _der(r: int, s: int) -> bytes:
    """The DER ``Ecdsa-Sig-Value`` of any two integers, negative ones included."""

    def integer(value: int) -> bytes:
        body = value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)
        return b"\x02" + bytes([len(body)]) + body

    content = integer(r) + integer(s)
    return b"\x30" + bytes([len(content)]) + content


def _der_forms(signature: bytes) -> dict[str, bytes]:
    """A valid DER signature and loose or wrong forms of it."""
    r, s = decode_dss_signature(signature)
    body = signature[2:]
    return {
        "valid": signature,
        "high s": _der(r, _N - s),  # valid too: ECDSA has no low-s rule
        "long-form length": b"\x30\x81" + bytes([len(body)]) + body,
        "trailing byte": signature + b"\x00",
        "indefinite length": b"\x30\x80" + body + b"\x00\x00",
        "r padded with a zero": b"\x30" + bytes([len(body) + 1]) + b"\x02" + bytes([body[1] + 1]) + b"\x00" + body[2:],
        "r negative": _der(-r, s),
        "r zero": _der(0, s),
        "s equal to n": _der(r, _N),
        "s plus n": _der(r, s + _N),
        "r and s swapped": _der(s, r),
        "a set, not a sequence": b"\x31" + signature[1:],
        "empty": b"",
    }


def _raw_forms(signature: bytes) -> dict[str, bytes]:
    r, s = decode_dss_signature(signature)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return {
        "valid": raw,
        "high s": r.to_bytes(32, "big") + (_N - s).to_bytes(32, "big"),
        "s zero": raw[:32] + bytes(32),
        "s equal to n": raw[:32] + _N.to_bytes(32, "big"),
        "short": raw[:63],
        "long": raw + b"\x00",
    }


def _key_forms(key: ec.EllipticCurvePublicKey) -> dict[str, bytes]:
    point = key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    off_curve = point[:-1] + bytes([point[-1] ^ 1])
    return {
        "valid": point,
        "compressed": key.public_bytes(Encoding.X962, PublicFormat.CompressedPoint),
        "x || y without 0x04": point[1:],
        "hybrid prefix": bytes([6 + (point[-1] & 1)]) + point[1:],
        "off the curve": off_curve,
        "infinity": b"\x00",
        "zeros": b"\x04" + bytes(64),
    }


def test_no_encoding_is_read_more_loosely_than_by_cryptography(accelerator: Counter[str]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    data = b"a quote's signed data"
    signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
    native.enable()
    seen = Counter()
    for key_name, point in _key_forms(key.public_key()).items():
        for sig_name, der in _der_forms(signature).items():
            ours = native.der_ok(point, der, data)
            assert ours <= _accepted_by_cryptography(point, der, data), (key_name, sig_name)
            seen[ours] += 1
        for sig_name, raw in _raw_forms(signature).items():
            ours = native.fixed_ok(point, raw, data)
            der = _der(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")) if len(raw) == 64 else b""
            assert ours <= _accepted_by_cryptography(point, der, data), (key_name, sig_name)
            seen[ours] += 1
    assert seen[True] == 4  # the valid and the high-s signature, in each form, with the valid key only
    assert not native.der_ok(b"\x04" + bytes(64), signature, data)
    valid_point, valid_raw = _key_forms(key.public_key())["valid"], _raw_forms(signature)["valid"]
    assert native.fixed_ok(valid_point, valid_raw, data)
    assert not native.fixed_ok(valid_point, valid_raw, bytearray(data))  # not bytes: left to cryptography
    assert not native.fixed_ok(_key_forms(key.public_key())["valid"], _raw_forms(signature)["valid"], data + b"!")


# --- switching it on ----------------------------------------------------------------------------------------------


def test_it_is_off_unless_asked_for(library: Path) -> None:
    code = "from pydcap.pki import native; print(native.enabled())"
    env = {k: v for k, v in os.environ.items() if k != native.ENVIRONMENT}
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    on = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**env, native.ENVIRONMENT: "1"}, check=True
    )
    assert (off.stdout, on.stdout, on.stderr) == ("False\n", "True\n", "")


def test_asked_for_but_not_built_it_warns_once_and_verifies_without(tmp_path: Path) -> None:
    missing = tmp_path / "libpydcap_native.so"
    b = real_bundle(SGX)
    done = run_pydcap(
        verify_args(b, "--collateral", str(b.path / "collateral")), env={native.ENVIRONMENT: str(missing)}
    )
    assert done.returncode == 0
    warnings = [line for line in done.stderr.splitlines() if "RuntimeWarning" in line]
    assert len(warnings) == 1 and f"not built: no {missing}" in warnings[0]


def test_a_library_that_is_not_the_accelerator_is_named(tmp_path: Path, accelerator: Counter[str]) -> None:
    with pytest.raises(native.NativeUnavailableError, match="not built") as missing:
        native.enable(tmp_path / "absent.so")
    assert missing.value.path == tmp_path / "absent.so"
    not_a_library = tmp_path / "text.so"
    not_a_library.write_text("not a shared library")
    with pytest.raises(native.NativeUnavailableError, match="is not pydcap's native accelerator"):
        native.enable(not_a_library)
    another = Path(_ctypes.__file__)  # a real shared library, without the accelerator's functions
    with pytest.raises(native.NativeUnavailableError, match="is not pydcap's native accelerator"):
        native.enable(another)
    assert not native.enabled()


def test_a_library_of_another_interface_is_refused(tmp_path: Path, accelerator: Counter[str]) -> None:
    """A library with the accelerator's names but another interface version (here one that would accept every
    signature) is not used."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    source = tmp_path / "other.c"
    source.write_text("unsigned pydcap_native_abi(void) { return 99; }\nint pydcap_p256_sha256(void) { return 1; }\n")
    built = tmp_path / "libother.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(built), str(source)], check=True)
    with pytest.raises(native.NativeUnavailableError, match="speaks interface 99, this pydcap needs"):
        native.enable(built)
    assert not native.enabled()
