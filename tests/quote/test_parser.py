"""Quote parsing: real quotes of every version and TEE, exact offsets, and only QuoteFormatError on bad bytes."""

from __future__ import annotations

import contextlib
import dataclasses
import pickle
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pydcap import Policy, Quote, QuoteFormatError
from pydcap.lazy import maker
from pydcap.quote import CertificationData, EnclaveReport, EncryptedPpid, TdReport10, TdReport15, TdReport15Ex
from pydcap.quote.parser import _parse, _read_common
from pydcap.sim import SimulatedIntel
from tests.support.quotes import with_slack
from tests.support.testdata import NEGATIVE, REAL, Bundle, bundle_params, require_testdata


@pytest.mark.parametrize("bundle", bundle_params(REAL))
def test_real_quote_facts(bundle: Bundle | None) -> None:
    require_testdata()
    assert bundle is not None
    facts = bundle.expected["quote_facts"]
    quote = Quote.parse(bundle.quote)
    assert quote.version == bundle.expected["quote_version"]
    assert quote.tee == bundle.expected["tee"]
    assert len(quote.raw) == facts["size"]
    assert quote.trailing_bytes == facts["trailing_bytes"]
    assert quote.certification_data.type == 5
    assert quote.pck_chain_pem is not None and quote.pck_chain_pem.count(b"BEGIN CERTIFICATE") == 3
    # The signed data is the header and the body, byte for byte.
    assert bundle.quote.startswith(quote.signed_data)
    assert quote.signed_data.endswith(quote.body.raw)
    assert quote.header.raw == bundle.quote[:48]


def test_body_kinds_by_version() -> None:
    require_testdata()
    kinds = {(b.expected["quote_version"], b.expected["tee"]): type(Quote.parse(b.quote).body) for b in REAL}
    assert kinds[(3, "SGX")] is EnclaveReport
    assert kinds[(4, "TDX")] is TdReport10
    assert kinds[(5, "TDX")] is TdReport15


def test_sgx_report_fields_are_at_intels_offsets() -> None:
    raw = bytes(range(256)) + bytes(range(128))
    r = EnclaveReport.from_bytes(raw)
    assert r.cpu_svn == raw[0:16]
    assert r.misc_select == struct.unpack_from("<I", raw, 16)[0]
    assert r.isv_ext_prod_id == raw[32:48]
    assert r.attributes == raw[48:64]
    assert r.mr_enclave == raw[64:96]
    assert r.mr_signer == raw[128:160]
    assert r.config_id == raw[192:256]
    assert r.isv_prod_id == struct.unpack_from("<H", raw, 256)[0]
    assert r.isv_svn == struct.unpack_from("<H", raw, 258)[0]
    assert r.config_svn == struct.unpack_from("<H", raw, 260)[0]
    assert r.isv_family_id == raw[304:320]
    assert r.report_data == raw[320:384]


def test_td_report_fields_are_at_intels_offsets() -> None:
    raw = bytes(i % 251 for i in range(648))
    r = TdReport15.from_bytes(raw)
    assert r.tee_tcb_svn == raw[0:16]
    assert r.mr_seam == raw[16:64]
    assert r.mr_signer_seam == raw[64:112]
    assert r.seam_attributes == raw[112:120]
    assert r.td_attributes == raw[120:128]
    assert r.xfam == raw[128:136]
    assert r.mr_td == raw[136:184]
    assert r.mr_config_id == raw[184:232]
    assert r.mr_owner == raw[232:280]
    assert r.mr_owner_config == raw[280:328]
    assert r.rtmrs == (raw[328:376], raw[376:424], raw[424:472], raw[472:520])
    assert r.report_data == raw[520:584]
    assert r.tee_tcb_svn2 == raw[584:600]
    assert r.mr_service_td == raw[600:648]


def test_debug_flags() -> None:
    sgx = bytearray(384)
    assert not EnclaveReport.from_bytes(bytes(sgx)).debug
    sgx[48] = 0x02
    assert EnclaveReport.from_bytes(bytes(sgx)).debug
    td = bytearray(584)
    assert not TdReport10.from_bytes(bytes(td)).debug
    td[120] = 0x01
    assert TdReport10.from_bytes(bytes(td)).debug


def _a_quote(version: int) -> bytes:
    require_testdata()
    for b in REAL:
        if b.expected["quote_version"] == version:
            return b.quote
    pytest.skip(f"no v{version} quote in the test data")


@pytest.mark.parametrize(
    ("patch", "offset", "words"),
    [
        ((0, b"\x02\x00"), 0, "version 2"),
        ((2, b"\x03\x00"), 2, "attestation key type 3"),
        ((4, b"\x05\x00\x00\x00"), 4, "TEE type"),
        ((12, b"\x00" * 16), 12, "not Intel's"),
    ],
)
def test_header_errors_name_offset_and_reason(patch: tuple[int, bytes], offset: int, words: str) -> None:
    data = bytearray(_a_quote(3))
    at, value = patch
    data[at : at + len(value)] = value
    with pytest.raises(QuoteFormatError) as info:
        Quote.parse(bytes(data))
    assert info.value.offset == offset
    assert words in info.value.reason


def test_truncation_anywhere_is_a_format_error() -> None:
    data = _a_quote(4)
    quote = Quote.parse(data)
    end = len(data) - quote.trailing_bytes
    for cut in (0, 10, 47, 48, 300, 632, 700, end - 1):
        with pytest.raises(QuoteFormatError):
            Quote.parse(data[:cut])


def test_trailing_bytes_are_tolerated() -> None:
    data = _a_quote(3)
    quote = Quote.parse(data + b"\x00" * 1000)
    assert quote.trailing_bytes == 1000 + Quote.parse(data).trailing_bytes


@pytest.mark.parametrize("version", [3, 4, 5])
def test_bytes_after_the_certification_data_are_ignored_as_intel_does(version: int) -> None:
    """Intel's parser reads the certification data by its own length and ignores the rest of the signature
    data; only the QE report section must fill its (outer) certification data exactly."""
    data = _a_quote(version)
    quote = Quote.parse(data)
    padded = Quote.parse(with_slack(data, b"\xaa" * 7))
    assert padded.certification_data == quote.certification_data
    assert (padded.signature, padded.qe_report, padded.qe_auth_data) == (
        quote.signature,
        quote.qe_report,
        quote.qe_auth_data,
    )
    assert padded.signed_data == quote.signed_data
    assert padded.trailing_bytes == quote.trailing_bytes


@pytest.mark.parametrize("version", [4, 5])
def test_qe_report_section_must_fill_its_certification_data(version: int) -> None:
    with pytest.raises(QuoteFormatError, match="follow the QE certification data"):
        Quote.parse(with_slack(_a_quote(version), b"\x00" * 3, inside_certification_data=True))


def test_td15_ex_body() -> None:
    """Body type 4 (TD 1.5 with TD partitioning fields, 885 bytes), which Intel's 2026 QVL verifies."""
    data = _a_quote(5)
    quote = Quote.parse(data)
    assert isinstance(quote.body, TdReport15)
    extra = bytes(range(237))
    ex = data[:48] + struct.pack("<HI", 4, 885) + quote.body.raw + extra + data[len(quote.signed_data) :]
    parsed = Quote.parse(ex)
    body = parsed.body
    assert isinstance(body, TdReport15Ex) and parsed.body_type == 4
    assert body.tee_tcb_svn2 == quote.body.tee_tcb_svn2 and body.report_data == quote.report_data
    assert body.vm_id == extra[:1] and body.td_id == extra[1:33] and body.cur_serv_td_attributes == extra[-8:]
    assert body.init_tee_fmspc == extra[169:181]
    assert parsed.to_dict()["report"]["init_tee_fmspc"] == extra[169:181].hex()
    with pytest.raises(QuoteFormatError, match="must be 885 bytes"):
        Quote.parse(data[:48] + struct.pack("<HI", 4, 648) + data[54:])


def test_v5_body_type_must_match_tee() -> None:
    data = bytearray(_a_quote(5))
    data[48:54] = struct.pack("<HI", 1, 384)  # an SGX body in a TDX quote
    with pytest.raises(QuoteFormatError) as info:
        Quote.parse(bytes(data))
    assert info.value.offset == 48


def test_not_bytes_is_a_format_error() -> None:
    with pytest.raises(QuoteFormatError):
        Quote.parse("not bytes")  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=6000))
def test_random_bytes_raise_only_quote_format_error(data: bytes) -> None:
    with contextlib.suppress(QuoteFormatError):
        Quote.parse(data)


_SEEDS = [b.quote for b in REAL + NEGATIVE]


def _simulated() -> list[bytes]:
    """Quotes of every version, TEE and body the simulated Intel makes, plain and with slack after their data."""
    intel = SimulatedIntel(seed=41)
    sgx, td10, td15 = intel.sgx_platform(), intel.tdx_platform(), intel.tdx_platform(td_version="1.5")
    quotes = [sgx.quote(b"v", version=v) for v in (3, 4, 5)] + [
        td.quote(b"v", version=v) for td in (td10, td15) for v in (4, 5)
    ]
    return quotes + [with_slack(q, b"\x00" * 7, inside_certification_data=False) for q in quotes[1::2]]


_SIMULATED = _simulated()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_SEEDS or [b"\x00"]),
    st.lists(st.tuples(st.integers(0, 5200), st.integers(0, 255)), min_size=1, max_size=8),
    st.integers(0, 5200),
)
def test_mutated_real_quotes_parse_or_raise_quote_format_error(
    seed: bytes, edits: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(seed)
    for pos, value in edits:
        if pos < len(data):
            data[pos] = value
    with contextlib.suppress(QuoteFormatError):
        Quote.parse(bytes(data[: max(cut, 48)] if cut % 3 == 0 else data))


@pytest.mark.parametrize(("kind", "ppid_size"), [(2, 256), (3, 384)])
def test_encrypted_ppid_certification_data(kind: int, ppid_size: int) -> None:
    """Types 2 (RSA-2048) and 3 (RSA-3072): the encrypted PPID, then CPUSVN, PCESVN and PCE-ID (little-endian)."""
    ppid, cpu_svn = bytes(range(256)) * 2, bytes(range(16, 32))
    data = ppid[:ppid_size] + cpu_svn + struct.pack("<HH", 13, 0x0102)
    found = CertificationData(kind, data).encrypted_ppid
    assert found == EncryptedPpid(ppid[:ppid_size], cpu_svn, 13, 0x0102)
    assert CertificationData(kind, data[:-1]).encrypted_ppid is None  # not the layout: nothing to ask a service
    assert CertificationData(5, data).encrypted_ppid is None


def _checked_parse(data: bytes) -> Quote | str:
    try:
        return _parse(data)
    except QuoteFormatError as exc:
        return str(exc)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_SEEDS + _SIMULATED),
    st.lists(st.tuples(st.integers(0, 5200), st.integers(0, 255)), max_size=4),
    st.integers(0, 5200),
)
def test_the_plain_offsets_reading_gives_the_checked_readers_quote_or_declines(
    seed: bytes, edits: list[tuple[int, int]], cut: int
) -> None:
    """Quotes as they come and mutated (bytes changed, cut short): the reading by plain offsets either declines
    (the checked reader then names the defect) or gives exactly the quote the checked reader gives."""
    data = bytearray(seed)
    for pos, value in edits:
        if pos < len(data):
            data[pos] = value
    mutated = bytes(data[:cut] if cut % 3 == 0 else data)
    fast, checked = _read_common(mutated), _checked_parse(mutated)
    assert fast is None or fast == checked
    if not edits and cut % 3 and isinstance(checked, Quote):
        assert fast is not None  # a quote as it came takes the plain reading


def test_a_maker_builds_what_the_dataclass_builds() -> None:
    """``maker``: the same frozen object as the dataclass's own ``__init__``, every field set; refused for a class it
    would build wrongly (one with ``__post_init__``, or without slots)."""
    for quote in _SIMULATED:
        parsed = Quote.parse(quote)
        for part in (parsed, parsed.header, parsed.body, parsed.qe_report, parsed.certification_data):
            values = [getattr(part, f.name) for f in dataclasses.fields(part)]
            built = maker(type(part))(*values)
            assert built == type(part)(*values) and type(built) is type(part)
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(built, dataclasses.fields(part)[0].name, None)
    with pytest.raises(TypeError, match="slotted"):
        maker(Policy)


@pytest.mark.parametrize("kind", [EnclaveReport, TdReport10, TdReport15, TdReport15Ex])
def test_a_maker_builds_each_report_kind_and_subclass(kind: type[EnclaveReport | TdReport10]) -> None:
    """``maker`` of a report class, a subclass of another slotted dataclass among them: an object of exactly that
    class, equal to the dataclass's own, frozen, and as picklable."""
    raw = bytes(range(256)) * 4
    raw = raw[: {EnclaveReport: 384, TdReport10: 584, TdReport15: 648, TdReport15Ex: 885}[kind]]
    built = kind.from_bytes(raw)
    values = [getattr(built, f.name) for f in dataclasses.fields(built)]
    assert type(built) is kind and built == kind(*values) and repr(built) == repr(kind(*values))
    assert pickle.loads(pickle.dumps(built)) == built
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.raw = b""  # type: ignore[misc]
