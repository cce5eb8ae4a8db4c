"""QCNL's disk cache against a real loopback PCCS: a fresh provider (empty memory) is served from Intel's cache
files without a request, each checked when read; expiry from the configuration or ``Cache-Control: max-age`` on
an injected clock; expired and corrupt files deleted, never served; Intel's byte layout both ways; Intel's
directory search."""

from __future__ import annotations

import hashlib
import os
import stat
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from pydcap.provider.interface import CacheKind, PlatformId
from pydcap.provider.qcnl.cache import CACHE_ENTRIES, QcnlCache, cache_locations
from pydcap.provider.qcnl.config import QcnlConfig
from tests.support.provider import PLATFORM, QE_ID, Clock, QcnlPccs, provider

HOUR = 3600
PCK_AND_ITS_CRLS = ["pckcert", "pckcrl", "rootcacrl"]  # a PCK answer, then the CRLs it is checked against


def caching_pck(qcnl_pccs: QcnlPccs, hours: float = 1) -> QcnlConfig:
    """PCK answers cached for ``hours``, the CRLs that check them for a day: a later provider needs neither."""
    return qcnl_pccs.config(pck_cache_expire_hours=hours, verify_collateral_cache_expire_hours=24)


def pck_file(qcnl_pccs: QcnlPccs, directory: Path) -> Path:
    """Where the PCK answer for PLATFORM lives: sha256 of the URL without its encrypted PPID."""
    url = f"{qcnl_pccs.url}pckcert?qeid={QE_ID.hex().upper()}&cpusvn={'00' * 16}&pcesvn=0D00&pceid=0000"
    return directory / hashlib.sha256(url.encode()).hexdigest()


def fetch_everything(qcnl_pccs: QcnlPccs, config_hours: float, clock: Clock) -> tuple[str, bytes, bytes]:
    config = qcnl_pccs.config(pck_cache_expire_hours=config_hours, verify_collateral_cache_expire_hours=config_hours)
    with provider(config, clock) as p:
        chain = p.pck_cert_chain(PLATFORM)
        collateral = p.collateral_for_quote(qcnl_pccs.data.sgx.quote)
        root_ca_crl = p.root_ca_crl()
    return chain.tcbm, collateral.digest, root_ca_crl


def test_a_fresh_provider_is_served_from_disk(qcnl_pccs: QcnlPccs, qcnl_cache_base: Path) -> None:
    clock = Clock()
    first = fetch_everything(qcnl_pccs, 1, clock)
    asked = len(qcnl_pccs.data.requests)
    assert qcnl_pccs.data.endpoints() == [*PCK_AND_ITS_CRLS, "tcb", "qe/identity"]
    directory = qcnl_cache_base / ".dcap-qcnl"
    files = sorted(directory.iterdir())
    assert len(files) == asked and pck_file(qcnl_pccs, directory) in files
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert fetch_everything(qcnl_pccs, 1, clock) == first  # another provider: its memory is empty
    assert len(qcnl_pccs.data.requests) == asked


def test_files_are_intels_cache_items(qcnl_pccs: QcnlPccs, qcnl_cache_base: Path) -> None:
    clock = Clock()
    with provider(qcnl_pccs.config(pck_cache_expire_hours=2), clock) as p:
        chain = p.pck_cert_chain(PLATFORM)
    raw = pck_file(qcnl_pccs, qcnl_cache_base / ".dcap-qcnl").read_bytes()
    version, kind, expiry, header_size = struct.unpack_from("<HIqI", raw)  # CacheItemHeader, packed
    assert (version, kind, expiry) == (1, CacheKind.CERTIFICATE, int(clock.now) + 2 * HOUR)
    header = raw[18 : 18 + header_size].decode()
    (body_size,) = struct.unpack_from("<I", raw, 18 + header_size)
    body = raw[22 + header_size :]
    assert len(body) == body_size and chain.pem.startswith(body.strip())
    assert f"\r\nSGX-TCBm: {chain.tcbm}\r\n".lower() in header.lower()


def test_an_item_written_as_intel_writes_it_is_served(qcnl_pccs: QcnlPccs, qcnl_cache_base: Path) -> None:
    clock = Clock()
    with provider(caching_pck(qcnl_pccs), clock) as p:
        expected = p.pck_cert_chain(PLATFORM)
    path = pck_file(qcnl_pccs, qcnl_cache_base / ".dcap-qcnl")
    raw = path.read_bytes()
    (header_size,) = struct.unpack_from("<I", raw, 14)
    body = raw[22 + header_size :]
    issuer = expected.pem[len(body.strip()) + 1 :].decode().replace("\n", "%0A")
    header = f"HTTP/1.1 200 OK\r\nsgx-tcbm: {expected.tcbm}\r\nSGX-PCK-Certificate-Issuer-Chain: {issuer}\r\n\r\n"
    intel = struct.pack("<HIq", 1, 1, int(clock.now) + 60)
    intel += struct.pack("<I", len(header)) + header.encode() + struct.pack("<I", len(body)) + body
    path.write_bytes(intel)
    with provider(qcnl_pccs.config(), clock) as p:
        assert p.pck_cert_chain(PLATFORM) == expected
    assert qcnl_pccs.data.endpoints() == PCK_AND_ITS_CRLS  # the second provider asked for nothing


def test_expiry_follows_the_clock_and_expired_files_are_deleted(qcnl_pccs: QcnlPccs, qcnl_cache_base: Path) -> None:
    clock = Clock()
    path = pck_file(qcnl_pccs, qcnl_cache_base / ".dcap-qcnl")
    with provider(caching_pck(qcnl_pccs), clock) as p:
        p.pck_cert_chain(PLATFORM)
    clock.now += HOUR - 1
    with provider(qcnl_pccs.config(), clock) as p:  # no caching configured: reads still use the files
        p.pck_cert_chain(PLATFORM)
    assert qcnl_pccs.data.endpoints() == PCK_AND_ITS_CRLS
    clock.now += 1  # expiry reached
    with provider(qcnl_pccs.config(), clock) as p:
        p.pck_cert_chain(PLATFORM)
    assert qcnl_pccs.data.endpoints() == [*PCK_AND_ITS_CRLS, "pckcert"]
    assert not path.exists()  # deleted, and not rewritten (0 hours)


def test_memory_expiry_is_checked_too(qcnl_pccs: QcnlPccs) -> None:
    clock = Clock()
    with provider(caching_pck(qcnl_pccs), clock) as p:
        p.pck_cert_chain(PLATFORM)
        clock.now += HOUR
        p.pck_cert_chain(PLATFORM)
    assert qcnl_pccs.data.endpoints() == [*PCK_AND_ITS_CRLS, "pckcert"]


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda raw: b"",
    "shorter than the header": lambda raw: raw[:13],
    "no sizes": lambda raw: raw[:16],
    "truncated body": lambda raw: raw[:-1],
    "trailing bytes": lambda raw: raw + b"\0",
    "header size too large": lambda raw: raw[:14] + struct.pack("<I", len(raw)) + raw[18:],
    "version 2": lambda raw: struct.pack("<H", 2) + raw[2:],
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_corrupt_files_are_deleted_not_served(qcnl_pccs: QcnlPccs, qcnl_cache_base: Path, corruption: str) -> None:
    clock = Clock()
    path = pck_file(qcnl_pccs, qcnl_cache_base / ".dcap-qcnl")
    with provider(caching_pck(qcnl_pccs), clock) as p:
        expected = p.pck_cert_chain(PLATFORM)
    path.write_bytes(CORRUPTIONS[corruption](path.read_bytes()))
    with provider(qcnl_pccs.config(), clock) as p:
        assert p.pck_cert_chain(PLATFORM) == expected
    assert qcnl_pccs.data.endpoints() == [*PCK_AND_ITS_CRLS, "pckcert"] and not path.exists()


def test_a_well_formed_item_with_an_unusable_answer_is_deleted_and_fetched_again(
    qcnl_pccs: QcnlPccs, qcnl_cache_base: Path
) -> None:
    clock = Clock()
    path = pck_file(qcnl_pccs, qcnl_cache_base / ".dcap-qcnl")
    with provider(caching_pck(qcnl_pccs), clock) as p:
        expected = p.pck_cert_chain(PLATFORM)
    raw = path.read_bytes()
    (header_size,) = struct.unpack_from("<I", raw, 14)
    body = raw[22 + header_size :]
    header = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"  # no SGX-TCBm, no issuer chain
    item = struct.pack("<HIq", 1, 1, int(clock.now) + 60) + struct.pack("<I", len(header)) + header
    path.write_bytes(item + struct.pack("<I", len(body)) + body)
    with provider(qcnl_pccs.config(), clock) as p:
        assert p.pck_cert_chain(PLATFORM) == expected
    assert qcnl_pccs.data.endpoints() == [*PCK_AND_ITS_CRLS, "pckcert"]
    assert not path.exists()  # deleted, and not rewritten (0 hours)


def test_cache_control_max_age_wins_over_the_configuration(qcnl_pccs: QcnlPccs, qcnl_cache_base: Path) -> None:
    clock = Clock()
    path = pck_file(qcnl_pccs, qcnl_cache_base / ".dcap-qcnl")
    with provider(qcnl_pccs.config(), clock) as p:  # 0 hours and no max-age: nothing is cached
        p.pck_cert_chain(PLATFORM)
    assert not path.exists() and list(path.parent.iterdir()) == []
    qcnl_pccs.data.cache_control = "public, max-age=60"  # on every answer: the CRLs too
    with provider(qcnl_pccs.config(pck_cache_expire_hours=1), clock) as p:
        p.pck_cert_chain(PLATFORM)
    assert struct.unpack_from("<q", path.read_bytes(), 6)[0] == int(clock.now) + 60
    clock.now += 59
    with provider(qcnl_pccs.config(), clock) as p:
        p.pck_cert_chain(PLATFORM)
    assert qcnl_pccs.data.endpoints() == PCK_AND_ITS_CRLS * 2
    clock.now += 1
    qcnl_pccs.data.cache_control = "max-age=0"  # 0: the configuration decides again
    with provider(qcnl_pccs.config(pck_cache_expire_hours=1), clock) as p:
        p.pck_cert_chain(PLATFORM)
    assert qcnl_pccs.data.endpoints() == PCK_AND_ITS_CRLS * 3
    assert struct.unpack_from("<q", path.read_bytes(), 6)[0] == int(clock.now) + HOUR


def test_clear_cache_by_kind_on_disk(qcnl_pccs: QcnlPccs, qcnl_cache_base: Path) -> None:
    directory = qcnl_cache_base / ".dcap-qcnl"
    local = directory / f"{QE_ID.hex()}_0000"
    local.write_bytes(struct.pack("<HIq", 1, CacheKind.MULTICERTS, 2_000_000))  # a local PCK file's header
    clock = Clock()
    fetch_everything(qcnl_pccs, 1, clock)

    def kinds() -> list[int]:
        return sorted(struct.unpack_from("<I", f.read_bytes(), 2)[0] for f in directory.iterdir())

    assert kinds() == [1, 2, 2, 2, 2, 4]  # PCK certificate; PCK CRL, root CA CRL, TCB info, QE identity; local
    with provider(qcnl_pccs.config(), clock) as p:
        p.clear_cache(CacheKind.QV_COLLATERAL)
        assert kinds() == [1, 4]
        p.clear_cache(CacheKind.CERTIFICATE)
        assert kinds() == [4]
        p.clear_cache()  # ALL includes MULTICERTS, as in Intel's library
    assert list(directory.iterdir()) == []


# ---- the directory and the memory tier -------------------------------------------------------------------


def test_intels_search_order_prefers_an_existing_directory(tmp_path: Path) -> None:
    env = {"AZDCAP_CACHE": str(tmp_path / "az"), "HOME": str(tmp_path / "home"), "TMPDIR": ""}
    assert cache_locations(env) == [tmp_path / "az/.dcap-qcnl", tmp_path / "home/.dcap-qcnl", Path("/tmp/.dcap-qcnl")]
    (tmp_path / "home/.dcap-qcnl").mkdir(parents=True)
    (tmp_path / "az").mkdir()
    cache = QcnlCache.from_environment(env)
    cache.store("item", b"x" * 20)
    assert cache.directory == tmp_path / "home/.dcap-qcnl" and (cache.directory / "item").exists()


def test_the_first_creatable_directory_is_created_owner_only(tmp_path: Path) -> None:
    env = {"AZDCAP_CACHE": str(tmp_path / "missing/parent"), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    (tmp_path / "xdg").mkdir()
    cache = QcnlCache.from_environment(env)
    assert cache.load("item") is None and not (tmp_path / "xdg/.dcap-qcnl").exists()  # created when first needed
    cache.store("ITEM", b"value")
    created = tmp_path / "xdg/.dcap-qcnl"
    assert cache.directory == created and stat.S_IMODE(created.stat().st_mode) == 0o700
    assert (created / "item").read_bytes() == b"value"  # names are lowercased, as Intel's are on Linux
    assert [p.name for p in created.iterdir()] == ["item"]  # no temporary file left behind


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX ownership")
def test_a_directory_others_can_write_is_not_used(tmp_path: Path) -> None:
    shared = tmp_path / "shared/.dcap-qcnl"
    shared.mkdir(parents=True)
    shared.chmod(0o777)
    (shared / "planted").write_bytes(b"answer")
    own = tmp_path / "own"
    own.mkdir()
    messages: list[str] = []
    cache = QcnlCache([shared, own / ".dcap-qcnl"], log=lambda level, text: messages.append(text))
    assert cache.load("planted") is None
    cache.store("mine", b"value")
    assert cache.directory == own / ".dcap-qcnl" and any("ignoring cache directory" in m for m in messages)


def test_without_a_directory_the_memory_tier_keeps_the_last_20(tmp_path: Path) -> None:
    cache = QcnlCache([tmp_path / "missing/parent/.dcap-qcnl"])
    for i in range(CACHE_ENTRIES + 1):
        cache.store(f"item{i}", bytes([i]))
    assert cache.directory is None
    assert cache.load("item0") is None and cache.load("item1") == b"\x01"
    cache.store("item21", b"\x15")  # item1 was used last: item2 is now the oldest
    assert cache.load("item1") == b"\x01" and cache.load("item2") is None


def test_the_encrypted_ppid_is_not_part_of_the_key(qcnl_pccs: QcnlPccs) -> None:
    clock = Clock()
    with provider(caching_pck(qcnl_pccs), clock) as p:
        p.pck_cert_chain(PLATFORM)
    with provider(qcnl_pccs.config(), clock) as p:
        p.pck_cert_chain(PlatformId(QE_ID, bytes(16), 13, 0, encrypted_ppid=b"\x01" * 384))
    assert qcnl_pccs.data.endpoints() == PCK_AND_ITS_CRLS
