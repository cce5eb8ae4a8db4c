"""Linux configfs-tsm (``/sys/kernel/config/tsm/report``): the TDX guest's quote interface.

Create a report entry, write ``inblob``, then read ``outblob``; ``generation`` must not change between the
write and the read (else another writer raced us) and ``provider`` must be ``tdx_guest``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pydcap.errors import QuoteFormatError
from pydcap.platform.base import PlatformError, pad_report_data, sysroot, under, wait_for
from pydcap.quote import Quote

REPORT_DIR = "/sys/kernel/config/tsm/report"


class ConfigfsTsmQuoteSource:
    """Quotes from a TDX guest through configfs-tsm."""

    name = "configfs-tsm"
    tee = "TDX"

    def __init__(self, directory: Path | None = None, timeout: float = 10.0) -> None:
        self.dir = directory if directory is not None else under(sysroot(), REPORT_DIR)
        self.timeout = timeout

    @classmethod
    def present(cls, root: Path) -> bool:
        return under(root, REPORT_DIR).is_dir()

    def _read_int(self, entry: Path, name: str) -> int | None:
        try:
            return int((entry / name).read_text().strip())
        except (OSError, ValueError):
            return None

    def get_quote(self, report_data: bytes) -> bytes:
        data = pad_report_data(report_data)
        entry = self.dir / f"pydcap-{os.getpid()}-{os.urandom(4).hex()}"
        try:
            entry.mkdir()
        except OSError as exc:
            raise PlatformError(f"cannot create {entry}: {exc.strerror} (is configfs-tsm mounted?)") from exc
        try:
            return self._quote_from(entry, data)
        finally:
            # configfs removes an entry with rmdir; a plain directory (a test tree) needs its files gone.
            try:
                entry.rmdir()
            except OSError:
                shutil.rmtree(entry, ignore_errors=True)

    def _quote_from(self, entry: Path, data: bytes) -> bytes:
        before = self._read_int(entry, "generation") or 0
        try:
            (entry / "inblob").write_bytes(data)
        except OSError as exc:
            raise PlatformError(f"cannot write {entry / 'inblob'}: {exc.strerror}") from exc
        generation = wait_for(
            lambda: g if (g := self._read_int(entry, "generation")) is not None and g > before else None,
            self.timeout,
            f"{entry / 'generation'} to advance",
        )
        try:
            quote = (entry / "outblob").read_bytes()
            provider = (entry / "provider").read_text().strip()
        except OSError as exc:
            raise PlatformError(f"cannot read the report from {entry}: {exc.strerror}") from exc
        after = self._read_int(entry, "generation")
        if after != generation:
            raise PlatformError(f"{entry} changed while it was read (generation {generation} -> {after}); retry")
        if provider != "tdx_guest":
            raise PlatformError(f"configfs-tsm provider is {provider!r}, not tdx_guest: this is not a TDX guest")
        try:
            carried = Quote.parse(quote).report_data
        except QuoteFormatError as exc:
            raise PlatformError(f"{entry / 'outblob'} is not a quote: {exc}") from exc
        if carried != data:
            raise PlatformError(f"the quote in {entry / 'outblob'} does not carry the report data written to inblob")
        return quote
