"""A platform's TCB as Intel's services name it: 16 CPU component SVNs and the PCESVN, written on the wire as a
TCBm (``SGX-TCBm``: the 16 CPUSVN bytes then PCESVN little-endian, in hex), and ordered component by component.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydcap.errors import FormatError

TCBM_HEX_DIGITS = 36


class TcbFormatError(FormatError):
    """A TCB or TCBm that does not have Intel's shape (16 one-byte SVNs and a two-byte PCESVN)."""


class Incomparable(ValueError):
    """Two TCBs each higher than the other in some component."""


@dataclass(frozen=True, slots=True)
class Tcb:
    """16 CPU component SVNs (the raw CPUSVN, byte by byte) and the PCESVN."""

    components: tuple[int, ...]
    pce_svn: int

    def __post_init__(self) -> None:
        if len(self.components) != 16 or not all(0 <= c <= 0xFF for c in self.components):
            raise TcbFormatError(f"a TCB has 16 one-byte component SVNs, not {self.components!r}")
        if not 0 <= self.pce_svn <= 0xFFFF:
            raise TcbFormatError(f"PCESVN {self.pce_svn} is not a 16-bit value")

    @classmethod
    def from_raw(cls, cpu_svn: bytes, pce_svn: int) -> Tcb:
        """From a raw CPUSVN (16 bytes) and PCESVN, as a quote or a PCK certificate carries them."""
        return cls(tuple(cpu_svn), pce_svn)

    @classmethod
    def from_tcbm(cls, tcbm: str) -> Tcb:
        """From a TCBm in hex (either case, surrounding blanks ignored); ``TcbFormatError`` for anything else."""
        text = tcbm.strip()
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise TcbFormatError(f"TCBm {tcbm!r} is not hex") from None
        if len(raw) != TCBM_HEX_DIGITS // 2:
            raise TcbFormatError(f"TCBm must be 18 bytes, not {len(raw)}")
        return cls(tuple(raw[:16]), int.from_bytes(raw[16:], "little"))

    @property
    def cpu_svn(self) -> bytes:
        return bytes(self.components)

    @property
    def tcbm(self) -> str:
        """The TCBm in upper-case hex, as Intel's services send it."""
        return (self.cpu_svn + self.pce_svn.to_bytes(2, "little")).hex().upper()

    @property
    def values(self) -> tuple[int, ...]:
        """The 16 components, then the PCESVN."""
        return (*self.components, self.pce_svn)

    def compare(self, other: Tcb) -> int:
        """-1, 0 or 1; ``Incomparable`` when each is higher somewhere (Intel's ``Tcb.compare``)."""
        lower = higher = False
        for a, b in zip(self.values, other.values, strict=True):
            if a < b:
                lower = True
            elif a > b:
                higher = True
        if lower and higher:
            raise Incomparable(f"TCBs {self.tcbm} and {other.tcbm} are not comparable")
        return -1 if lower else 1 if higher else 0

    def at_or_below(self, other: Tcb) -> bool:
        """No component (PCESVN included) higher than ``other``'s (Intel's ``isLeftTcbEquivalent``)."""
        return all(a <= b for a, b in zip(self.values, other.values, strict=True))

    def reaches(self, other: Tcb) -> bool:
        """At or above ``other`` on every component and on PCESVN."""
        return other.at_or_below(self)
