"""The exceptions pydcap raises for malformed input.

Verification failures are not exceptions: they are values in a ``VerificationResult``. These errors
are for bytes that cannot be read at all, and each carries enough context to say what was wrong.
"""

from __future__ import annotations


class PydcapError(Exception):
    """Base class of every error pydcap raises on purpose."""


class FormatError(PydcapError, ValueError):
    """Input bytes or text that do not have the expected format."""


class QuoteFormatError(FormatError):
    """A quote that cannot be parsed. ``offset`` is where in the quote the problem was found."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"malformed quote at offset {offset}: {reason}")
        self.offset = offset
        self.reason = reason


class CertificateFormatError(FormatError):
    """A certificate, certificate chain or CRL that cannot be parsed."""


class CertificateExtensionError(CertificateFormatError):
    """A certificate of a chain lacks standard X.509 extensions that Intel's parser requires.

    ``position`` is its index among the ``length`` certificates of the chain; ``missing`` names the extensions.
    """

    def __init__(self, position: int, length: int, missing: tuple[str, ...], subject_cn: str) -> None:
        super().__init__(
            f"certificate {position + 1} of {length} ({subject_cn!r}) lacks the {', '.join(missing)} extension"
        )
        self.position = position
        self.length = length
        self.missing = missing


class CollateralFormatError(FormatError):
    """A collateral document (TCB info, enclave identity, bundle) that cannot be parsed.

    ``part`` names the collateral part (``tcb_info``, ``qe_identity``, ``pck_crl``, ...).
    """

    def __init__(self, part: str, reason: str) -> None:
        super().__init__(f"{part}: {reason}")
        self.part = part
        self.reason = reason


class UnsupportedVersionError(CollateralFormatError):
    """A collateral document of a version pydcap does not support."""


class InvalidCollateralError(CollateralFormatError):
    """A collateral document that parses but whose content is invalid (bad status, duplicate levels)."""
