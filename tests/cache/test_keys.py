"""Cache keys: every kind printed and parsed back, one spelling per document, and bad names refused."""

from __future__ import annotations

import pytest

from pydcap.cache import EntryKey, InvalidKeyError
from pydcap.sources import PlatformId

PLATFORM = PlatformId(b"\x42" * 16, bytes(range(16)), 13, 0)


@pytest.mark.parametrize(
    "key",
    [
        EntryKey.root_ca_crl(),
        EntryKey.pck_crl("platform"),
        EntryKey.tcb_info("tdx", bytes.fromhex("b0c06f000000"), "early"),
        EntryKey.qe_identity("sgx"),
        EntryKey.qve_identity(),
        EntryKey.pck_certificate(PLATFORM),
    ],
    ids=str,
)
def test_a_key_is_parsed_back_from_its_name(key: EntryKey) -> None:
    assert EntryKey.parse(str(key)) == key


def test_a_platform_key_names_its_platform() -> None:
    key = EntryKey.pck_certificate(PLATFORM)
    assert str(key) == f"pck_certificate/{'42' * 16}/{bytes(range(16)).hex()}/0d00/0000"
    assert key.platform_id() == PLATFORM
    assert EntryKey.pck_certificate(PLATFORM.key.upper()) == key


@pytest.mark.parametrize(
    ("platform", "message"),
    [
        (f"4/{'00' * 16}/0000/0000", "non-hexadecimal"),
        (f"42/{'00' * 15}/0000/0000", "CPUSVN must be 16 bytes"),
        (f"42/{'00' * 16}/0d/0000", "2 bytes each"),
        (f"42/{'00' * 16}/000000/0000", "PCESVN"),
        (f"42/{'00' * 16}/0000", "3 parts, not 4"),
        (f"/{'00' * 16}/0000/0000", "QE-ID must be 1 to 130 bytes"),
        (f"42 /{'00' * 16}/0000/0000", "2 bytes each"),
    ],
)
def test_a_bad_platform_key_is_refused_with_the_reason(platform: str, message: str) -> None:
    with pytest.raises(InvalidKeyError, match=message):
        EntryKey.pck_certificate(platform)
    with pytest.raises(InvalidKeyError, match="is not a cache key"):
        EntryKey.parse(f"pck_certificate/{platform}")


@pytest.mark.parametrize(
    "text", ["", "root_ca_crl/x", "pck_crl/other", "tcb_info/sgx/00a0671100/standard", "qe_identity/sgx", "what"]
)
def test_other_bad_names_are_refused(text: str) -> None:
    with pytest.raises(InvalidKeyError):
        EntryKey.parse(text)
