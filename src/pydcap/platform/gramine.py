"""Gramine's ``/dev/attestation`` pseudo-filesystem: write ``user_report_data``, read ``quote``."""

from __future__ import annotations

from pathlib import Path

from pydcap.errors import QuoteFormatError
from pydcap.platform.base import PlatformError, pad_report_data, sysroot, under, wait_for
from pydcap.quote import Quote

DEVICE = "/dev/attestation"


class GramineQuoteSource:
    """Quotes from inside a Gramine SGX enclave (``attestation_type`` must be ``dcap``)."""

    name = "gramine"
    tee = "SGX"

    def __init__(self, directory: Path | None = None, timeout: float = 10.0) -> None:
        self.dir = directory if directory is not None else under(sysroot(), DEVICE)
        self.timeout = timeout

    @classmethod
    def present(cls, root: Path) -> bool:
        return (under(root, DEVICE) / "attestation_type").is_file()

    def attestation_type(self) -> str:
        try:
            return (self.dir / "attestation_type").read_text().strip().rstrip("\x00")
        except OSError as exc:
            raise PlatformError(f"cannot read {self.dir / 'attestation_type'}: {exc.strerror}") from exc

    def get_quote(self, report_data: bytes) -> bytes:
        data = pad_report_data(report_data)
        kind = self.attestation_type()
        if kind != "dcap":
            raise PlatformError(
                f"Gramine attestation type is {kind!r}; DCAP quotes need 'dcap' (sgx.remote_attestation)"
            )
        try:
            (self.dir / "user_report_data").write_bytes(data)
        except OSError as exc:
            raise PlatformError(f"cannot write {self.dir / 'user_report_data'}: {exc.strerror}") from exc

        def matching_quote() -> bytes | None:
            # A quote is only ours if it carries our report data; anything else is stale.
            try:
                raw = (self.dir / "quote").read_bytes()
                return raw if Quote.parse(raw).report_data == data else None
            except (OSError, QuoteFormatError):
                return None

        return wait_for(matching_quote, self.timeout, f"a quote with our report data in {self.dir / 'quote'}")
