"""Where quotes come from: Gramine's /dev/attestation, a TDX guest's configfs-tsm, or a simulated platform.

``detect()`` picks the first that is present (under ``$PYDCAP_SYSROOT`` when set) and says what it found.
"""

from pydcap.platform.base import PlatformError, QuoteSource
from pydcap.platform.detect import Detection, detect
from pydcap.platform.gramine import GramineQuoteSource
from pydcap.platform.tsm import ConfigfsTsmQuoteSource

__all__ = [
    "ConfigfsTsmQuoteSource",
    "Detection",
    "GramineQuoteSource",
    "PlatformError",
    "QuoteSource",
    "detect",
]
