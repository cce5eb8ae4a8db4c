"""Quote verification as Intel's verifier does it: chains, CRLs, signed collateral, QE, TCB levels.

``Verifier`` and ``verify_quote`` live here; the names of what they return are re-exported from where they live
(``pydcap.intel``: Intel's outcome names; ``pydcap.results``: the result)."""

from pydcap.intel import Failure, Quote3Error, QvResult, TcbStatus
from pydcap.results import Supplemental, VerificationResult
from pydcap.verify.verifier import Verifier, verify_quote

__all__ = [
    "Failure",
    "Quote3Error",
    "QvResult",
    "Supplemental",
    "TcbStatus",
    "VerificationResult",
    "Verifier",
    "verify_quote",
]
