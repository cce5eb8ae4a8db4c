"""File trees that behave like Gramine's /dev/attestation and Linux configfs-tsm, with a simulated quoting
enclave behind them: a background thread answers writes the way the kernel or Gramine would."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType


class _Poller:
    def __init__(self, step: Callable[[], None]) -> None:
        self._step = step
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._step()
            self._stop.wait(0.002)

    def __enter__(self) -> _Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: tuple[type[BaseException], BaseException, TracebackType] | None) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class FakeGramine(_Poller):
    """``<root>/dev/attestation``: quotes for whatever was last written to ``user_report_data``."""

    def __init__(self, root: Path, make_quote: Callable[[bytes], bytes], attestation_type: str = "dcap") -> None:
        self.dir = root / "dev" / "attestation"
        self.dir.mkdir(parents=True)
        (self.dir / "attestation_type").write_text(attestation_type)
        (self.dir / "user_report_data").write_bytes(b"\x00" * 64)
        (self.dir / "quote").write_bytes(make_quote(b"\x00" * 64))
        self._answered = b"\x00" * 64
        self._make_quote = make_quote
        super().__init__(self._answer)

    def _answer(self) -> None:
        data = (self.dir / "user_report_data").read_bytes()
        if len(data) == 64 and data != self._answered:
            tmp = self.dir / ".quote.tmp"
            tmp.write_bytes(self._make_quote(data))
            tmp.replace(self.dir / "quote")
            self._answered = data


class FakeTsm(_Poller):
    """``<root>/sys/kernel/config/tsm/report``: each entry's ``inblob`` write produces ``outblob``."""

    def __init__(self, root: Path, make_quote: Callable[[bytes], bytes], provider: str = "tdx_guest") -> None:
        self.dir = root / "sys" / "kernel" / "config" / "tsm" / "report"
        self.dir.mkdir(parents=True)
        self._make_quote = make_quote
        self._provider = provider
        self._seen: dict[Path, bytes] = {}
        self.reports = 0
        super().__init__(self._answer)

    def _answer(self) -> None:
        for entry in list(self.dir.iterdir()):
            try:
                inblob = (entry / "inblob").read_bytes()
            except OSError:
                continue
            if len(inblob) != 64 or self._seen.get(entry) == inblob:  # absent or still being written
                continue
            try:
                generation = int((entry / "generation").read_text()) if (entry / "generation").exists() else 0
                (entry / "outblob").write_bytes(self._make_quote(inblob))
                (entry / "provider").write_text(self._provider + "\n")
                (entry / "generation").write_text(f"{generation + 1}\n")
            except OSError:  # the reader removed its entry meanwhile: keep serving the others
                continue
            self._seen[entry] = inblob
            self.reports += 1
