"""Auto-detection of the quote source, with a sentence saying what was found and why it was chosen."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydcap.platform.base import QuoteSource, sysroot, under
from pydcap.platform.gramine import DEVICE, GramineQuoteSource
from pydcap.platform.tsm import REPORT_DIR, ConfigfsTsmQuoteSource


@dataclass(frozen=True)
class Detection:
    source: QuoteSource | None
    kind: str  # "gramine", "configfs-tsm" or "simulated"
    message: str

    @property
    def simulated(self) -> bool:
        return self.kind == "simulated"


def detect(root: Path | None = None) -> Detection:
    """Gramine first (we run inside an enclave), then a TDX guest, else simulation (``source`` is None: the
    caller builds a simulated platform)."""
    base = root if root is not None else sysroot()
    if GramineQuoteSource.present(base):
        src = GramineQuoteSource(under(base, DEVICE))
        return Detection(src, "gramine", f"Gramine enclave: {src.dir} (attestation type {src.attestation_type()!r})")
    if ConfigfsTsmQuoteSource.present(base):
        tsm = ConfigfsTsmQuoteSource(under(base, REPORT_DIR))
        return Detection(tsm, "configfs-tsm", f"TDX guest: configfs-tsm at {tsm.dir}")
    return Detection(
        None,
        "simulated",
        f"no SGX/TDX quote interface under {base} (no /dev/attestation, no configfs-tsm): "
        "using a SIMULATED platform, whose quotes only a simulated Intel root accepts",
    )
