"""Quote verification as Intel's verifier does it: chains, CRLs, signed collateral, QE, TCB levels."""

from pydcap.verify.names import Failure, QvResult, TcbStatus
from pydcap.verify.result import Supplemental, VerificationResult
from pydcap.verify.verifier import Verifier, verify_quote

__all__ = [
    "Failure",
    "QvResult",
    "Supplemental",
    "TcbStatus",
    "VerificationResult",
    "Verifier",
    "verify_quote",
]
